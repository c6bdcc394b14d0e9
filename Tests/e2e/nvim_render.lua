-- Headless Neovim, as a new user with the editors/neovim README's setup: highlighting (the shipped
-- syntax file), the README's keymaps, completion and hover through the built-in client, then
-- "Render image with composed adapters" (:StylusRenderComposed) on the example prompt with the tiny
-- checkpoint and a LoRA folder holding one installed adapter. Exit code 0 on success, 1 on failure.
--   STYLUS_BIN=.build/release/stylus nvim --headless --clean -u NONE -c "luafile Tests/e2e/nvim_render.lua"
local root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h:h')
local bin = os.getenv('STYLUS_BIN') or (root .. '/.build/release/stylus')

local function fail(msg)
  io.stderr:write('FAIL: ' .. msg .. '\n')
  vim.cmd('cquit 1')
end

local function check(cond, msg)
  if not cond then fail(msg) end
end

local ok, err = pcall(function()
  vim.cmd('syntax on')
  vim.opt.runtimepath:append(root .. '/editors/neovim')
  local work = vim.fn.tempname()
  vim.fn.mkdir(work .. '/loras', 'p')
  -- One installed adapter: a LoRA file that fits the tiny checkpoint, with a Civitai Helper sidecar.
  local lora = vim.fn.readfile(root .. '/Tests/Fixtures/LoRA/kohya.safetensors', 'b')
  vim.fn.writefile(lora, work .. '/loras/SnowGlobeScenes.safetensors', 'b')
  vim.fn.writefile({ vim.fn.json_encode({
    id = 910001, modelId = 810001, baseModel = 'SD 1.5', trainedWords = { 'snowglobe' },
    model = { name = 'Snow Globe Scenes', type = 'LORA', nsfw = false, tags = { 'concept', 'snow globe', 'glass' },
              description = 'A glass snow globe around the subject: tiny scenes, falling snow.' },
  }) }, work .. '/loras/SnowGlobeScenes.civitai.info')
  local db = work .. '/catalog.sqlite'
  vim.fn.system({ bin, 'catalog', 'import', '--db', db, root .. '/Sources/StylusCatalog/Resources/starter_catalog.jsonl' })
  check(vim.v.shell_error == 0, 'catalog import failed')

  -- The server's messages as the user sees them (window/showMessage, shown by Neovim's handler).
  local messages = {}
  local show = vim.lsp.handlers['window/showMessage']
  vim.lsp.handlers['window/showMessage'] = function(e, result, ctx, cfg)
    table.insert(messages, result.message)
    return show(e, result, ctx, cfg)
  end

  require('stylus').setup({
    cmd = { bin, 'lsp', '--log-level', 'error' },
    settings = { stylus = { baseModel = 'SD 1.5', db = db, loraDirs = { work .. '/loras' },
                            checkpoint = root .. '/Tests/Fixtures/TinySD/tiny-sd15.safetensors', renderer = 'local' } },
  })

  -- The example prompt that asks for a snow globe, small and quick.
  local example = vim.fn.readfile(root .. '/examples/quixote.sdprompt')
  local body = {}
  local fences = 0
  for _, l in ipairs(example) do
    if fences >= 2 then table.insert(body, l) end
    if l == '---' then fences = fences + 1 end
  end
  local file = work .. '/quixote.sdprompt'
  vim.fn.writefile(vim.list_extend({ '---', 'base_model: SD 1.5', 'steps: 4', 'size: 64x64', 'seed: 3', '---' }, body), file)
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  check(vim.bo.filetype == 'sdprompt', 'filetype: ' .. vim.bo.filetype)

  -- Highlighting from the shipped syntax file.
  local function group(lnum, text)
    local line = vim.fn.getline(lnum)
    local col = line:find(text, 1, true)
    check(col ~= nil, 'no ' .. text .. ' on line ' .. lnum)
    return vim.fn.synIDattr(vim.fn.synID(lnum, col, 1), 'name')
  end
  check(group(2, 'base_model') == 'sdpromptFrontKey', 'frontmatter key: ' .. group(2, 'base_model'))
  check(group(7, '1.1') == 'sdpromptWeight', 'weight: ' .. group(7, '1.1'))
  check(group(8, 'Negative prompt:') == 'sdpromptNegativeLabel', 'negative label: ' .. group(8, 'Negative prompt:'))

  -- The README's keymaps and commands.
  check(vim.fn.maparg('K', 'n'):find('hover', 1, true) ~= nil, 'K does not hover: ' .. vim.fn.maparg('K', 'n'))
  check(vim.fn.exists(':StylusRenderComposed') == 2, 'no :StylusRenderComposed')

  local client
  check(vim.wait(10000, function()
    client = vim.lsp.get_active_clients()[1]
    return client ~= nil and next(vim.lsp.buf_get_clients(0)) ~= nil
  end, 20), 'client did not attach')

  -- Hints (one per keyword with adapters) stay out of the virtual text; warnings do not.
  local vt = vim.diagnostic.config(nil, vim.lsp.diagnostic.get_namespace(client.id)).virtual_text
  check(type(vt) == 'table' and vt.severity and vt.severity.min == vim.diagnostic.severity.INFO,
    'hint virtual text not filtered: ' .. vim.inspect(vt))

  -- Hover on "snow globe" names the installed adapter once the composer is ready.
  local line7 = vim.fn.getline(7)
  vim.api.nvim_win_set_cursor(0, { 7, line7:find('snow globe', 1, true) + 1 })
  local hover
  check(vim.wait(30000, function()
    local r = vim.lsp.buf_request_sync(0, 'textDocument/hover', vim.lsp.util.make_position_params(), 3000)
    for _, x in pairs(r or {}) do
      if x.result and x.result.contents then hover = x.result.contents.value or vim.inspect(x.result.contents) end
    end
    return hover ~= nil and hover:find('kohya_alias', 1, true) ~= nil
  end, 100), 'no keyword hover naming the installed adapter: ' .. vim.inspect(hover))

  -- Completion after "<lora:" lists the installed adapter first.
  vim.api.nvim_buf_set_lines(0, 7, 7, false, { '<lora:' })
  local expected = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') .. '\n'
  check(vim.wait(5000, function()  -- the edit reached the server (Neovim sends it after a pause)
    local r = client.request_sync('stylus/debugDocument', { uri = vim.uri_from_bufnr(0) }, 2000, 0)
    return r and r.result and r.result.text == expected
  end, 50), 'the server did not get the edit')
  local comp = client.request_sync('textDocument/completion',
    { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = 7, character = 6 } }, 5000, 0)
  local items = comp and comp.result and (comp.result.items or comp.result) or {}
  check(#items > 0 and items[1].label == 'kohya_alias', 'first completion: ' .. vim.inspect(items[1] and items[1].label))
  check(items[1].detail:find('^installed') ~= nil, 'completion detail: ' .. tostring(items[1].detail))
  vim.api.nvim_buf_set_lines(0, 7, 8, false, {})
  vim.cmd('write')

  -- Render with the composed adapters: a PNG beside the file, with the installed LoRA applied.
  -- Progress: Neovim 0.7 has no UI for $/progress; the plugin echoes it.
  local echoed = {}
  local echo = vim.api.nvim_echo
  vim.api.nvim_echo = function(chunks, history, opts)
    table.insert(echoed, chunks[1] and chunks[1][1] or '')
    return echo(chunks, history, opts)
  end
  vim.cmd('StylusRenderComposed')
  local png = work .. '/quixote-1.png'
  check(vim.wait(120000, function() return vim.fn.filereadable(png) == 1 end, 100), 'no PNG: ' .. vim.inspect(messages))
  check(vim.wait(10000, function()
    for _, m in ipairs(messages) do if m:find(png, 1, true) then return true end end
    return false
  end, 50), 'no message with the image path: ' .. vim.inspect(messages))
  local stepped = false
  for _, t in ipairs(echoed) do
    if t:find('^Rendering quixote%.sdprompt: %d+%% Sampling step') then stepped = true end
  end
  check(stepped, 'no progress echoed: ' .. vim.inspect(echoed))
  local bytes = table.concat(vim.fn.readfile(png, 'b'), '\n')
  check(bytes:find('<lora:kohya_alias:', 1, true) ~= nil, 'PNG prompt has no <lora:kohya_alias:…>')
  check(bytes:find('Lora hashes: "kohya_alias: ', 1, true) ~= nil or bytes:find('Lora hashes: kohya_alias: ', 1, true) ~= nil,
    'the LoRA was not applied (no hash in the parameters)')

  client.stop()
  check(vim.wait(5000, function() return client.is_stopped() end, 20), 'server did not stop')
end)

if not ok then fail(tostring(err)) end
io.stdout:write('OK: nvim ' .. tostring(vim.version().major) .. '.' .. tostring(vim.version().minor) .. ' rendered with an installed LoRA\n')
vim.cmd('qall!')
