" Stable Diffusion prompt files.
autocmd BufRead,BufNewFile *.sdprompt setfiletype sdprompt
