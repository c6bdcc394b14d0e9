-- Stylus language server for .sdprompt files.
-- Works on Neovim 0.7 (vim.lsp.start_client + buf_attach_client) and 0.8+ (vim.lsp.start).
local M = {}

local defaults = {
  -- `--log-level error`: Neovim 0.7 logs every stderr line of a server as [ERROR] in lsp.log, so
  -- only real errors go there (problems the user must fix also arrive as messages).
  cmd = { 'stylus', 'lsp', '--log-level', 'error' },
  -- Sent as initializationOptions and answered to workspace/configuration (section "stylus").
  settings = { stylus = {} },
  -- Buffer-local keymaps on .sdprompt buffers (false: none; see editors/neovim/README.md).
  keymaps = true,
  -- Hints (`adapter-available`, one per keyword with adapters) as signs and underlines only, not
  -- as virtual text at the end of every line. true: virtual text for them too.
  hint_virtual_text = false,
  -- Echo work-done progress (renders, reindexing) in the command line.
  show_progress = true,
}

local config = vim.deepcopy(defaults)
local clients_by_root = {} -- Neovim 0.7: reuse one client per root directory
local renders = {} -- bufnr -> { client, request id } of a render in progress

local function root_dir(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  local marker = vim.fn.finddir('.git', dir .. ';')
  if marker ~= '' then
    return vim.fn.fnamemodify(marker, ':p:h:h')
  end
  return dir
end

local function configure_diagnostics(client_id)
  if config.hint_virtual_text then return end
  local ns = vim.lsp.diagnostic.get_namespace(client_id)
  vim.diagnostic.config({ virtual_text = { severity = { min = vim.diagnostic.severity.INFO } } }, ns)
end

local function client_config(bufnr)
  return {
    name = 'stylus',
    cmd = config.cmd,
    root_dir = root_dir(bufnr),
    init_options = config.settings,
    settings = config.settings,
    on_init = function(client) configure_diagnostics(client.id) end,
  }
end

--- Starts (or reuses) the server for a buffer and attaches it.
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local cfg = client_config(bufnr)
  if vim.lsp.start then
    return vim.lsp.start(cfg, { bufnr = bufnr })
  end
  local id = clients_by_root[cfg.root_dir]
  if not id or not vim.lsp.get_client_by_id(id) then
    id = vim.lsp.start_client(cfg)
    clients_by_root[cfg.root_dir] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

local function stylus_client(bufnr)
  for _, c in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if c.name == 'stylus' then return c end
  end
  vim.notify('stylus: the language server is not attached to this buffer', vim.log.levels.WARN)
end

--- Runs a `stylus.*` command for the buffer (`args` merged into its first argument). The reply
--- goes to `on_done(err, result)`, else errors are shown.
function M.command(name, args, bufnr, on_done)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local client = stylus_client(bufnr)
  if not client then return end
  local argument = vim.tbl_extend('force', { uri = vim.uri_from_bufnr(bufnr) }, args or {})
  local ok, id = client.request('workspace/executeCommand', { command = name, arguments = { argument } }, function(err, result)
    if name == 'stylus.render' then renders[bufnr] = nil end
    if on_done then return on_done(err, result) end
    if err then vim.notify('stylus: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR) end
  end, bufnr)
  if ok and name == 'stylus.render' then renders[bufnr] = { client = client, id = id } end
  return ok and id or nil
end

--- Renders the buffer's file; `compose` adds the composed (installed) adapters.
function M.render(compose, bufnr)
  return M.command('stylus.render', { compose = compose or false }, bufnr)
end

--- Cancels the buffer's render in progress ($/cancelRequest).
function M.cancel(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local r = renders[bufnr]
  if not r then
    vim.notify('stylus: no render in progress for this buffer', vim.log.levels.INFO)
    return false
  end
  r.client.cancel_request(r.id)
  renders[bufnr] = nil
  return true
end

-- Completion through the server with <C-x><C-o> (aliases after `<lora:`, adapters for words).
local function set_omnifunc(bufnr)
  vim.api.nvim_buf_set_option(bufnr, 'omnifunc', 'v:lua.vim.lsp.omnifunc')
end

M.set_omnifunc = set_omnifunc

--- Keymaps and commands of a .sdprompt buffer.
function M.buffer_setup(bufnr)
  set_omnifunc(bufnr)
  local function cmd(name, fn, desc)
    vim.api.nvim_buf_create_user_command(bufnr, name, fn, { desc = desc })
  end
  cmd('StylusCompose', function() M.command('stylus.compose') end, 'Insert the composed <lora:...> tags')
  cmd('StylusComposeInstalled', function() M.command('stylus.compose', { installedOnly = true }) end,
    'Insert the composed tags of installed adapters only')
  cmd('StylusRender', function() M.render(false) end, 'Render the file as written')
  cmd('StylusRenderComposed', function() M.render(true) end, 'Render with the composed (installed) adapters')
  cmd('StylusCancel', function() M.cancel() end, 'Cancel the render of this buffer')
  cmd('StylusReindex', function() M.command('stylus.reindex') end, 'Rescan the LoRA folders')
  if not config.keymaps then return end
  local function map(lhs, rhs)
    vim.api.nvim_buf_set_keymap(bufnr, 'n', lhs, rhs, { noremap = true, silent = true })
  end
  map('K', '<cmd>lua vim.lsp.buf.hover()<CR>')
  map('<leader>ca', '<cmd>lua vim.lsp.buf.code_action()<CR>')
  map('<leader>sc', '<cmd>StylusCompose<CR>')
  map('<leader>sr', '<cmd>StylusRenderComposed<CR>')
  map('<leader>sx', '<cmd>StylusCancel<CR>')
  map('[d', '<cmd>lua vim.diagnostic.goto_prev()<CR>')
  map(']d', '<cmd>lua vim.diagnostic.goto_next()<CR>')
end

-- Neovim keeps $/progress out of sight (no UI of its own before 0.10): echo the server's render and
-- reindex progress ("Rendering x.sdprompt: 40% Sampling step 8/20") in the command line.
function M.show_progress()
  if not config.show_progress then return end
  local text
  if vim.lsp.util.get_progress_messages then
    for _, m in ipairs(vim.lsp.util.get_progress_messages()) do
      if m.name == 'stylus' and m.progress then
        text = m.title .. (m.percentage and (': ' .. m.percentage .. '%') or '') .. (m.message and (' ' .. m.message) or '')
        if m.done then text = m.title .. ': ' .. (m.message or 'done') end
      end
    end
  elseif vim.lsp.status then
    text = vim.lsp.status()
  end
  if text and text ~= '' then vim.api.nvim_echo({ { text } }, false, {}) end
end

--- setup{ cmd = {...}, settings = { stylus = { baseModel = 'SD 1.5', loraDirs = {...} } }, keymaps = true }
function M.setup(opts)
  config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  vim.cmd([[
    augroup stylus_sdprompt
      autocmd!
      autocmd BufRead,BufNewFile *.sdprompt setfiletype sdprompt
      autocmd FileType sdprompt lua require('stylus').attach(tonumber(vim.fn.expand('<abuf>')))
      autocmd FileType sdprompt lua require('stylus').buffer_setup(tonumber(vim.fn.expand('<abuf>')))
    augroup END
  ]])
  -- LspProgressUpdate (Neovim 0.7-0.9) or LspProgress (0.10+).
  pcall(vim.cmd, [[
    autocmd stylus_sdprompt User LspProgressUpdate lua require('stylus').show_progress()
  ]])
  pcall(vim.cmd, [[
    autocmd stylus_sdprompt LspProgress * lua require('stylus').show_progress()
  ]])
end

return M
