-- Headless Neovim drives the real built-in LSP client against `stylus lsp`, using the
-- shipped editors/neovim configuration. Exit code 0 on success, 1 on any failure.
--   STYLUS_BIN=.build/release/stylus nvim --headless --clean -u NONE -c "luafile Tests/e2e/nvim_smoke.lua"
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
  vim.opt.runtimepath:append(root .. '/editors/neovim')
  -- A catalog of the shipped starter cards, made with the real CLI, so the user's catalog is untouched.
  local db = vim.fn.tempname() .. '.sqlite'
  vim.fn.system({ bin, 'catalog', 'import', '--db', db, root .. '/Sources/StylusCatalog/Resources/starter_catalog.jsonl' })
  check(vim.v.shell_error == 0, 'catalog import failed')
  require('stylus').setup({ cmd = { bin, 'lsp' }, settings = { stylus = { baseModel = 'SD 1.5', db = db } } })

  -- Record every publishDiagnostics the client receives.
  local published = {}
  local default_handler = vim.lsp.handlers['textDocument/publishDiagnostics']
  vim.lsp.handlers['textDocument/publishDiagnostics'] = function(e, result, ctx, cfg)
    table.insert(published, result)
    return default_handler(e, result, ctx, cfg)
  end

  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  local file = dir .. '/knight.sdprompt'
  vim.fn.writefile(vim.fn.readfile(root .. '/Tests/e2e/fixtures/knight.sdprompt'), file)
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  check(vim.bo.filetype == 'sdprompt', 'filetype detection: got ' .. vim.bo.filetype)

  local client
  check(vim.wait(5000, function()
    client = vim.lsp.get_active_clients()[1]
    return client ~= nil and client.initialized ~= false and next(vim.lsp.buf_get_clients(0)) ~= nil
  end, 20), 'client did not attach')
  check(client.name == 'stylus', 'client name ' .. tostring(client.name))

  check(vim.wait(5000, function() return #published > 0 end, 20), 'no diagnostics published after open')

  -- Edit through the real client (incremental sync, UTF-16 conversion done by Neovim).
  local lnum
  for i, line in ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false)) do
    if line:find('knight', 1, true) then lnum = i - 1 end
  end
  check(lnum ~= nil, 'fixture has no knight line')
  local line = vim.api.nvim_buf_get_lines(0, lnum, lnum + 1, false)[1]
  local col = line:find('knight', 1, true) - 1 -- byte column, after the 4-byte cat emoji
  vim.api.nvim_buf_set_text(0, lnum, col, lnum, col + #'knight', { 'paladin' })
  vim.api.nvim_buf_set_lines(0, -1, -1, false, { '🐉 dragon, (glowing eyes:1.3)' })
  vim.api.nvim_buf_set_text(0, 0, 0, 0, 0, { '' }) -- no-op edit; must not disturb anything

  local expected = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') .. '\n'
  local copy
  check(vim.wait(5000, function()
    local resp = client.request_sync('stylus/debugDocument', { uri = vim.uri_from_bufnr(0) }, 2000, 0)
    copy = resp and resp.result
    return copy ~= nil and copy.text == expected
  end, 50), 'server copy differs from the buffer:\n' .. vim.inspect(copy and copy.text) .. '\nexpected:\n' .. vim.inspect(expected))

  -- An unknown request gets an error, and the server keeps serving.
  local resp = client.request_sync('stylus/noSuchMethod', {}, 2000, 0)
  check(resp and resp.err and resp.err.code == -32601, 'unknown method: ' .. vim.inspect(resp))

  -- Document symbols: the outline of the fixture.
  local sym = client.request_sync('textDocument/documentSymbol', { textDocument = { uri = vim.uri_from_bufnr(0) } }, 2000, 0)
  local names = {}
  for _, s in ipairs((sym and sym.result) or {}) do table.insert(names, s.name) end
  check(table.concat(names, ',') == 'Frontmatter,Prompt,Negative prompt', 'document symbols: ' .. vim.inspect(names))

  -- Completion and hover from the adapter catalog, in a buffer with an astral character before
  -- the tag (Neovim converts its byte columns to UTF-16 both ways).
  local adapters = dir .. '/adapters.sdprompt'
  vim.fn.writefile({ '🐱 linocut print of a lighthouse, <lora:linoprint_v1:0.6>, <lora:gou' }, adapters)
  vim.cmd('edit ' .. vim.fn.fnameescape(adapters))
  check(vim.wait(5000, function() return next(vim.lsp.buf_get_clients(0)) ~= nil end, 20), 'client did not attach to adapters.sdprompt')
  local aline = vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]
  local uri = vim.uri_from_bufnr(0)
  local comp = client.request_sync('textDocument/completion',
    { textDocument = { uri = uri }, position = { line = 0, character = vim.str_utfindex(aline) } }, 5000, 0)
  local result = comp and comp.result
  local citems = (result and (result.items or result)) or {}
  local labels = {}
  for _, it in ipairs(citems) do table.insert(labels, it.label) end
  check(table.concat(labels, ',') == 'gouachebook_v2', 'completion labels: ' .. vim.inspect(labels))
  vim.lsp.util.apply_text_edits({ citems[1].textEdit }, 0, 'utf-16')
  local completed = vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]
  -- Closed with the composer's weight for an adapter alone in its topic (recommended 0.7 × 0.8).
  check(completed == '🐱 linocut print of a lighthouse, <lora:linoprint_v1:0.6>, <lora:gouachebook_v2:0.56>',
    'completion edit gave: ' .. completed)

  -- Hover on the tag, with the position made by Neovim from the cursor (byte column → UTF-16).
  local tagcol = completed:find('<lora:linoprint', 1, true) + 3
  vim.api.nvim_win_set_cursor(0, { 1, tagcol })
  local hovers = vim.lsp.buf_request_sync(0, 'textDocument/hover', vim.lsp.util.make_position_params(), 5000)
  local htext
  for _, r in pairs(hovers or {}) do
    if r.result and r.result.contents then htext = r.result.contents.value or vim.inspect(r.result.contents) end
  end
  check(htext ~= nil and htext:find('Linocut Print', 1, true) ~= nil and htext:find('linoprint', 1, true) ~= nil,
    'hover on the tag: ' .. vim.inspect(htext))
  -- Hover on a keyword: the adapters the composer picks (its index is built in the background).
  vim.api.nvim_win_set_cursor(0, { 1, completed:find('lighthouse', 1, true) + 2 })
  check(vim.wait(10000, function()
    local r = vim.lsp.buf_request_sync(0, 'textDocument/hover', vim.lsp.util.make_position_params(), 2000)
    for _, x in pairs(r or {}) do
      if x.result and x.result.contents and (x.result.contents.value or ''):find('lighthse_v3', 1, true) then return true end
    end
    return false
  end, 50), 'no keyword hover naming lighthse_v3')
  vim.cmd('bwipeout!')
  vim.cmd('buffer ' .. vim.fn.bufnr(file))

  -- A second buffer with problems: diagnostics with codes, columns converted by Neovim to bytes.
  local bad = dir .. '/bad.sdprompt'
  vim.fn.writefile({ 'a 🐱 cat ,dog,, (masterpiece, <lora:x:0.8>, <lora:x:0.5>' }, bad)
  vim.cmd('edit ' .. vim.fn.fnameescape(bad))
  local diags
  check(vim.wait(5000, function()
    diags = vim.diagnostic.get(0)
    return #diags >= 2
  end, 20), 'no diagnostics for the bad buffer: ' .. vim.inspect(vim.diagnostic.get(0)))
  local by_code = {}
  for _, d in ipairs(diags) do by_code[d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)] = d end
  check(by_code['syntax'] ~= nil, 'no syntax diagnostic: ' .. vim.inspect(diags))
  -- '(' is UTF-16 column 16 but byte column 18 (the cat emoji is 2 UTF-16 units, 4 bytes).
  check(by_code['syntax'].col == 18, 'syntax diagnostic byte column ' .. tostring(by_code['syntax'].col))
  check(by_code['duplicate-lora'] ~= nil, 'no duplicate-lora diagnostic: ' .. vim.inspect(diags))

  -- Formatting through the client's own TextEdit application.
  if vim.lsp.buf.format then
    vim.lsp.buf.format({ timeout_ms = 3000 })
  else
    vim.lsp.buf.formatting_sync(nil, 3000)
  end
  local formatted = vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]
  check(formatted == 'a 🐱 cat, dog, (masterpiece, <lora:x:0.8>, <lora:x:0.5>', 'formatting gave: ' .. formatted)
  vim.cmd('bwipeout!')
  vim.cmd('buffer ' .. vim.fn.bufnr(file))

  -- Closing the buffer clears its diagnostics.
  local before = #published
  vim.cmd('bwipeout!')
  check(vim.wait(5000, function()
    local last = published[#published]
    return #published > before and last and #last.diagnostics == 0
  end, 20), 'diagnostics not cleared on close')

  client.stop()
  check(vim.wait(5000, function() return client.is_stopped() end, 20), 'server did not stop')
end)

if not ok then fail(tostring(err)) end
io.stdout:write('OK: nvim ' .. tostring(vim.version().major) .. '.' .. tostring(vim.version().minor) .. ' drove stylus lsp\n')
vim.cmd('qall!')
