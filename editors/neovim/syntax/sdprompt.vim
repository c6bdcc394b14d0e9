" Vim syntax file for Stable Diffusion prompt files (.sdprompt): YAML frontmatter, then an
" A1111-style prompt. Works in Vim and in every Neovim (0.7 has no semantic tokens; on 0.9+ the
" server's semantic tokens are drawn on top of these groups).
if exists('b:current_syntax')
  finish
endif

syn case match
" Prompt files are small: always parse from the top, so the frontmatter is found from any line.
syn sync fromstart

" Frontmatter: between a first-line '---' and the next '---'.
syn region sdpromptFrontmatter matchgroup=sdpromptFrontDelim start=/\%1l---\s*$/ end=/^---\s*$/ contains=sdpromptFrontKey,sdpromptFrontComment
syn match sdpromptFrontKey /^\s*[A-Za-z_][A-Za-z0-9_]*\ze\s*:/ contained
syn match sdpromptFrontComment /\s#.*$/ contained

" The prompt body.
syn match sdpromptComment /^\s*#.*$/
syn match sdpromptNegativeLabel /^Negative prompt:/
syn keyword sdpromptKeyword BREAK AND
syn match sdpromptWildcard /__[^_ ,]\+\(_[^_ ,]\+\)*__/
syn match sdpromptBracket /[()\[\]]/
" After the brackets: at the same column the later match wins.
syn match sdpromptEscape /\\[()\[\]\\]/
syn match sdpromptWeight /:\s*-\?\d\+\(\.\d\+\)\?\ze\s*[)\]]/
syn match sdpromptAndWeight /\<AND\s\+\S\{-}:\s*\zs-\?\d\+\(\.\d\+\)\?/
syn region sdpromptTag matchgroup=sdpromptTagDelim start=/<\(lora\|lyco\|hypernet\):/ end=/>/ oneline contains=sdpromptTagName,sdpromptTagNumber,sdpromptTagKey
syn match sdpromptTagName /\%(<\(lora\|lyco\|hypernet\):\)\@<=[^:>]\+/ contained
syn match sdpromptTagNumber /:\zs-\?\d\+\(\.\d\+\)\?/ contained
syn match sdpromptTagKey /\<\(te\|unet\|lbw\|dyn\)=/ contained

hi def link sdpromptFrontmatter  Comment
hi def link sdpromptFrontDelim   PreProc
hi def link sdpromptFrontKey     Identifier
hi def link sdpromptFrontComment Comment
hi def link sdpromptComment      Comment
hi def link sdpromptNegativeLabel Label
hi def link sdpromptKeyword      Keyword
hi def link sdpromptEscape       SpecialChar
hi def link sdpromptWildcard     Macro
hi def link sdpromptBracket      Delimiter
hi def link sdpromptWeight       Number
hi def link sdpromptAndWeight    Number
hi def link sdpromptTagDelim     Function
hi def link sdpromptTag          Function
hi def link sdpromptTagName      Type
hi def link sdpromptTagNumber    Number
hi def link sdpromptTagKey       Special

let b:current_syntax = 'sdprompt'
