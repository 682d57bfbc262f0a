--- srag.rest: tells the daemon where the cursor rests outside insert mode (`srag/cursor`), so that it warms the
--- prompts there (the draft's and the context-aware one) while you read, before the first key. A jump, a search, a
--- new buffer: once the cursor has stayed put for `rest_ms`, one notification; the daemon waits for a short idle
--- too, and any completion request preempts the work.
local M = {}

M.rest_ms = 120
M.sent = 0 -- notifications sent (for tests and :SragStatus)

---@type table<integer, uv.uv_timer_t>
local timers = {}

local function send(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.api.nvim_get_current_buf() ~= bufnr then
    return
  end
  if vim.fn.mode():sub(1, 1) == 'i' then
    return -- insert mode asks for completions itself
  end
  local client = require('srag.suggestion').client(bufnr)
  if not client or client:is_stopped() then
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  if pcall(client.notify, client, 'srag/cursor', params) then
    M.sent = M.sent + 1
  end
end

--- The cursor moved (or the buffer was entered): report it once it rests.
function M.moved(bufnr)
  local timer = timers[bufnr]
  if not timer then
    timer = vim.uv.new_timer()
    timers[bufnr] = timer
  end
  timer:stop()
  timer:start(M.rest_ms, 0, vim.schedule_wrap(function()
    send(bufnr)
  end))
end

--- The client detached (LspDetach, which also comes when the buffer is wiped out): stop reporting.
function M.detach(bufnr)
  local timer = timers[bufnr]
  if timer then
    timer:stop()
    timer:close()
    timers[bufnr] = nil
  end
  pcall(vim.api.nvim_del_augroup_by_name, 'srag.rest.' .. bufnr)
end

--- Buffer-local autocommands (called when the client attaches; init.lua detaches on LspDetach).
function M.attach(bufnr)
  local group = vim.api.nvim_create_augroup('srag.rest.' .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ 'CursorMoved', 'BufEnter' }, {
    group = group,
    buffer = bufnr,
    callback = function(ev)
      M.moved(ev.buf)
    end,
  })
  if bufnr == vim.api.nvim_get_current_buf() then
    M.moved(bufnr) -- the buffer is open and the cursor somewhere already
  end
end

return M
