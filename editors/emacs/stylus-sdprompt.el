;;; stylus-sdprompt.el --- Stable Diffusion prompt files with the Stylus language server -*- lexical-binding: t; -*-

;; Requires eglot (built into Emacs 29+, from GNU ELPA for Emacs 26.3-28).

(define-derived-mode sdprompt-mode text-mode "SD-Prompt"
  "Major mode for Stable Diffusion prompt files (.sdprompt).")

(add-to-list 'auto-mode-alist '("\\.sdprompt\\'" . sdprompt-mode))

(with-eval-after-load 'eglot
  ;; eglot sends languageId "sdprompt" (the mode name without -mode).
  (add-to-list 'eglot-server-programs
               '(sdprompt-mode . ("stylus" "lsp"
                                  :initializationOptions (:stylus (:baseModel "SD 1.5"))))))

;; Answered to the server's workspace/configuration requests (section "stylus").
(setq-default eglot-workspace-configuration
              '(:stylus (:baseModel "SD 1.5" :loraDirs [])))

(add-hook 'sdprompt-mode-hook #'eglot-ensure)

(provide 'stylus-sdprompt)
;;; stylus-sdprompt.el ends here
