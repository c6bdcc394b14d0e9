;;; emacs_eglot_test.el --- Emacs + eglot drive `stylus lsp' with the shipped editors/emacs config -*- lexical-binding: t; -*-

;; Run (Debian 12: apt-get install emacs-nox elpa-eglot; scripts/test-e2e does):
;;   STYLUS_BIN=.build/release/stylus emacs --batch -l Tests/e2e/emacs_eglot_test.el
;; Opens a prompt file in `sdprompt-mode', checks highlighting, the keymap, diagnostics through
;; eglot, a completion through eglot's completion-at-point, and "Compose adapters" applied by eglot
;; (workspace/applyEdit).  Exit code 0 on success, 1 on any failure (a timeout is a failure).

(require 'cl-lib)

(defvar stylus-test-root
  (file-name-directory (directory-file-name (file-name-directory (directory-file-name
                                                                    (file-name-directory load-file-name))))))
(defvar stylus-test-bin (or (getenv "STYLUS_BIN") (expand-file-name ".build/release/stylus" stylus-test-root)))

(defun stylus-test-fail (fmt &rest args)
  (princ (concat "FAIL: " (apply #'format fmt args) "\n") #'external-debugging-output)
  (kill-emacs 1))

(defun stylus-test-wait (what seconds predicate)
  "Wait up to SECONDS for PREDICATE, else fail naming WHAT."
  (let ((deadline (+ (float-time) seconds)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline) (stylus-test-fail "timed out waiting for %s" what))
      (accept-process-output nil 0.05))))

(condition-case err
    (progn
      (require 'eglot)
      (load (expand-file-name "editors/emacs/stylus-sdprompt.el" stylus-test-root) nil t)
      (setq eglot-sync-connect 30 eglot-connect-timeout 60
            ;; Batch mode cannot answer "Server wants to edit … Proceed?"; users may keep the question.
            eglot-confirm-server-initiated-edits nil)
      (let* ((work (make-temp-file "stylus-emacs-" t))
             (db (expand-file-name "catalog.sqlite" work))
             (file (expand-file-name "lighthouse.sdprompt" work))
             (published nil))
        ;; A catalog of the starter cards made with the real CLI (the user's own is untouched).
        (unless (eq 0 (call-process stylus-test-bin nil nil nil "catalog" "import" "--db" db
                                    (expand-file-name "Sources/StylusCatalog/Resources/starter_catalog.jsonl" stylus-test-root)))
          (stylus-test-fail "catalog import failed"))
        ;; The user's own configuration: the variables, not the shipped file.
        (setq stylus-sdprompt-command (list stylus-test-bin "lsp" "--log-level" "error")
              stylus-sdprompt-settings (list :baseModel "SD 1.5" :db db))
        (with-temp-file file
          (insert "---\nsteps: 8\n---\n# a test\nlinocut print of a lighthouse, (storm:1.2), <lora:lighthse_v3:0.6> BREAK <lora:nosuch_adapter:1>\n"))
        (advice-add 'eglot-handle-notification :before
                    (lambda (_server method &rest params)
                      (when (eq method 'textDocument/publishDiagnostics)
                        (push (plist-get params :diagnostics) published))))
        (find-file file)
        (unless (eq major-mode 'sdprompt-mode) (stylus-test-fail "major mode is %s" major-mode))
        (unless (eq (key-binding (kbd "C-M-i")) 'completion-at-point)
          (stylus-test-fail "C-M-i runs %s" (key-binding (kbd "C-M-i"))))
        ;; Highlighting (font-lock) without the server.
        (font-lock-ensure)
        (goto-char (point-min))
        (search-forward "lighthse_v3")
        (unless (eq (get-text-property (1- (point)) 'face) 'font-lock-type-face)
          (stylus-test-fail "LoRA name face %s" (get-text-property (1- (point)) 'face)))
        (search-forward "BREAK")
        (unless (eq (get-text-property (1- (point)) 'face) 'font-lock-keyword-face)
          (stylus-test-fail "BREAK face %s" (get-text-property (1- (point)) 'face)))
        ;; eglot-ensure waits for a command loop that batch mode does not run: connect as it would.
        (unless (eglot-current-server) (apply #'eglot (eglot--guess-contact)))
        (stylus-test-wait "the server" 30 #'eglot-current-server)
        ;; Diagnostics: the unknown LoRA tag.
        (stylus-test-wait "an unknown-lora diagnostic" 30
                          (lambda () (cl-some (lambda (ds) (cl-some (lambda (d) (equal (plist-get d :code) "unknown-lora")) ds))
                                              published)))
        ;; Completion through eglot's completion-at-point after "<lora:ligh".
        (goto-char (point-max))
        (insert "<lora:ligh")
        (let* ((capf (eglot-completion-at-point))
               (candidates (and capf (all-completions "ligh" (nth 2 capf)))))
          (unless (member "lighthse_v3" candidates) (stylus-test-fail "completion candidates %S" candidates)))
        (delete-region (- (point) (length "<lora:ligh")) (point))
        (save-buffer)
        ;; "Compose adapters": the server's workspace/applyEdit, applied by eglot to the buffer.
        (let ((before (buffer-string)))
          (stylus-sdprompt-compose)
          (stylus-test-wait "the composed tags in the buffer" 30
                            (lambda () (not (equal before (buffer-string))))))
        (unless (string-match-p "<lora:linoprint_v1:0\\.48>" (buffer-string))
          (stylus-test-fail "compose gave: %s" (buffer-string)))
        (eglot-shutdown (eglot-current-server))
        (princ (format "OK: Emacs %s with eglot drove stylus lsp\n" emacs-version))
        (kill-emacs 0)))
  (error (stylus-test-fail "%S" err)))
