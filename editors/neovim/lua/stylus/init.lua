-- Stylus language server for .sdprompt files.
-- Works on Neovim 0.7 (vim.lsp.start_client + buf_attach_client) and 0.8+ (vim.lsp.start).
local M = {}

local defaults = {
  cmd = { 'stylus', 'lsp' },
  -- Sent as initializationOptions and answered to workspace/configuration (section "stylus").
  settings = { stylus = {} },
}

local config = vim.deepcopy(defaults)
local clients_by_root = {} -- Neovim 0.7: reuse one client per root directory

local function root_dir(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  local marker = vim.fn.finddir('.git', dir .. ';')
  if marker ~= '' then
    return vim.fn.fnamemodify(marker, ':p:h:h')
  end
  return dir
end

local function client_config(bufnr)
  return {
    name = 'stylus',
    cmd = config.cmd,
    root_dir = root_dir(bufnr),
    init_options = config.settings,
    settings = config.settings,
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

-- Completion through the server with <C-x><C-o> (aliases after `<lora:`, adapters for words).
local function set_omnifunc(bufnr)
  vim.api.nvim_buf_set_option(bufnr, 'omnifunc', 'v:lua.vim.lsp.omnifunc')
end

M.set_omnifunc = set_omnifunc

--- setup{ cmd = {...}, settings = { stylus = { baseModel = 'SD 1.5', loraDirs = {...} } } }
function M.setup(opts)
  config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  vim.cmd([[
    augroup stylus_sdprompt
      autocmd!
      autocmd BufRead,BufNewFile *.sdprompt setfiletype sdprompt
      autocmd FileType sdprompt lua require('stylus').attach(tonumber(vim.fn.expand('<abuf>')))
      autocmd FileType sdprompt lua require('stylus').set_omnifunc(tonumber(vim.fn.expand('<abuf>')))
    augroup END
  ]])
end

return M
