;;; stylus-sdprompt.el --- Stable Diffusion prompt files with the Stylus language server -*- lexical-binding: t; -*-

;; Requires eglot: built into Emacs 29+; on Emacs 28 (Debian 12) install the `elpa-eglot' package
;; (or eglot from GNU ELPA).  Settings come from your own init file (`stylus-sdprompt-settings',
;; `stylus-sdprompt-command'); nothing here needs editing.

(require 'cl-lib)

(defgroup stylus-sdprompt nil
  "Stable Diffusion prompt files with the Stylus language server."
  :group 'languages)

(defcustom stylus-sdprompt-command '("stylus" "lsp")
  "The command that starts the Stylus language server."
  :type '(repeat string))

(defcustom stylus-sdprompt-settings '(:baseModel "SD 1.5")
  "The server's settings (section \"stylus\"), sent as initializationOptions.
A plist with the keys :db, :loraDirs (a vector of folders), :baseModel, :checkpoint,
:renderer and :addTriggerWords, e.g.
  (setq stylus-sdprompt-settings
        \\='(:baseModel \"SD 1.5\" :loraDirs [\"~/loras\"] :checkpoint \"~/models/sd15.safetensors\"))
Restart the server (\\[eglot-reconnect]) after changing it."
  :type 'plist)

(defvar sdprompt-mode-syntax-table
  (let ((st (make-syntax-table text-mode-syntax-table)))
    (modify-syntax-entry ?_ "w" st)
    (modify-syntax-entry ?\\ "\\" st)
    st)
  "Syntax table of `sdprompt-mode'.")

(defconst sdprompt-font-lock-keywords
  `(;; YAML frontmatter keys (lines "key:" before the closing ---).
    ("^\\([A-Za-z_][A-Za-z0-9_]*\\):" 1 font-lock-variable-name-face)
    ("^---[ \t]*$" . font-lock-preprocessor-face)
    ("^[ \t]*#.*$" . font-lock-comment-face)
    ("^Negative prompt:" . font-lock-builtin-face)
    ;; <lora:name:0.8>, <lyco:…>, <hypernet:…>
    ("<\\(lora\\|lyco\\|hypernet\\):\\([^:>\n]+\\)\\(\\(?::[^>\n]*\\)?\\)>"
     (1 font-lock-function-name-face) (2 font-lock-type-face) (3 font-lock-constant-face))
    ("\\_<\\(BREAK\\|AND\\)\\_>" . font-lock-keyword-face)
    ("__[^_ ,\n]+\\(?:_[^_ ,\n]+\\)*__" . font-lock-preprocessor-face)
    ;; (word:1.2) and [from:to:0.5] weights
    (":[ \t]*\\(-?[0-9]+\\(?:\\.[0-9]+\\)?\\)[ \t]*[])]" 1 font-lock-constant-face)
    ("\\\\[][()\\\\]" . font-lock-string-face))
  "Highlighting of `sdprompt-mode': frontmatter keys, comments, LoRA tags, BREAK/AND, wildcards, weights.")

(defvar sdprompt-mode-map
  (let ((map (make-sparse-keymap)))
    ;; text-mode binds M-TAB (C-M-i) to ispell; here it completes through the server.
    (define-key map (kbd "C-M-i") #'completion-at-point)
    (define-key map (kbd "C-c C-c") #'stylus-sdprompt-compose)
    (define-key map (kbd "C-c C-r") #'stylus-sdprompt-render-composed)
    (define-key map (kbd "C-c C-k") #'stylus-sdprompt-cancel)
    map)
  "Keymap of `sdprompt-mode'.")

;;;###autoload
(define-derived-mode sdprompt-mode text-mode "SD-Prompt"
  "Major mode for Stable Diffusion prompt files (.sdprompt).
\\{sdprompt-mode-map}"
  (setq-local comment-start "# ")
  (setq-local comment-start-skip "#+[ \t]*")
  (setq-local font-lock-defaults '(sdprompt-font-lock-keywords t)))

;;;###autoload
(add-to-list 'auto-mode-alist '("\\.sdprompt\\'" . sdprompt-mode))

(defun stylus-sdprompt--contact (&optional _interactive)
  "The server command for eglot, with `stylus-sdprompt-settings' as initializationOptions."
  (append stylus-sdprompt-command
          (list :initializationOptions (list :stylus stylus-sdprompt-settings))))

(with-eval-after-load 'eglot
  ;; eglot sends languageId "sdprompt" (the mode name without -mode).
  (add-to-list 'eglot-server-programs '(sdprompt-mode . stylus-sdprompt--contact)))

(declare-function eglot-current-server "eglot")
(declare-function eglot-execute-command "eglot")

(defun stylus-sdprompt--command (command &rest extra)
  "Run the Stylus COMMAND on the current file, EXTRA added to its argument."
  (let ((server (or (eglot-current-server) (user-error "Stylus: no language server for this buffer"))))
    (eglot-execute-command server command
                           (vector (append (list :uri (concat "file://" (expand-file-name buffer-file-name)))
                                           extra)))))

(defun stylus-sdprompt-compose (&optional installed-only)
  "Insert the composer's adapters (with a prefix argument: installed ones only)."
  (interactive "P")
  (if installed-only
      (stylus-sdprompt--command "stylus.compose" :installedOnly t)
    (stylus-sdprompt--command "stylus.compose")))

(declare-function jsonrpc-async-request "jsonrpc")
(declare-function jsonrpc-notify "jsonrpc")

(defvar-local stylus-sdprompt--render nil
  "The server and request id of this buffer's render in progress.")

(defun stylus-sdprompt--render (compose)
  "Render the file in the background, with the composed adapters when COMPOSE is non-nil.
Emacs stays usable; \\[stylus-sdprompt-cancel] cancels.  Progress and the image's path
arrive as server messages in the echo area and *Messages*."
  (let ((server (or (eglot-current-server) (user-error "Stylus: no language server for this buffer")))
        (buffer (current-buffer))
        (argument (list :uri (concat "file://" (expand-file-name buffer-file-name)))))
    (when compose (setq argument (append argument (list :compose t))))
    (when stylus-sdprompt--render (user-error "Stylus: this file is already rendering; C-c C-k cancels"))
    (let ((request (jsonrpc-async-request
                    server :workspace/executeCommand
                    (list :command "stylus.render" :arguments (vector argument))
                    :success-fn (lambda (result)
                                  (with-current-buffer buffer (setq stylus-sdprompt--render nil))
                                  (let ((paths (plist-get result :paths)))
                                    (message "Stylus: %s" (if (and paths (> (length paths) 0))
                                                              (mapconcat #'identity paths ", ")
                                                            "render cancelled"))))
                    :error-fn (lambda (error)
                                (with-current-buffer buffer (setq stylus-sdprompt--render nil))
                                (message "Stylus: %s" (plist-get error :message)))
                    :timeout nil)))
      (setq stylus-sdprompt--render (cons server (car request)))
      (message "Stylus: rendering %s…" (file-name-nondirectory buffer-file-name)))))

(defun stylus-sdprompt-render ()
  "Render the file as written (a PNG beside it)."
  (interactive)
  (stylus-sdprompt--render nil))

(defun stylus-sdprompt-render-composed ()
  "Render with the composed adapters (installed ones)."
  (interactive)
  (stylus-sdprompt--render t))

(defun stylus-sdprompt-cancel ()
  "Cancel this buffer's render ($/cancelRequest)."
  (interactive)
  (if (not stylus-sdprompt--render)
      (message "Stylus: no render in progress for this buffer")
    (jsonrpc-notify (car stylus-sdprompt--render) :$/cancelRequest (list :id (cdr stylus-sdprompt--render)))
    (setq stylus-sdprompt--render nil)
    (message "Stylus: render cancelled")))

(add-hook 'sdprompt-mode-hook #'eglot-ensure)

(provide 'stylus-sdprompt)
;;; stylus-sdprompt.el ends here
