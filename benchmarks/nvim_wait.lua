-- Waiting inside a coroutine in headless Neovim, without blocking its event loop: `sleep` and `wait_until`, shared by
-- benchmarks/editor_driver.lua and tests/editors/nvim_ghost_text.lua. Load it relative to the calling script:
--
--   local here = vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2))
--   local wait = dofile(here .. '/nvim_wait.lua').new(finish)   -- finish(err): called when a resumed step fails
--
-- Both functions must be called from the coroutine that runs the script's steps.
local M = {}

local POLL_MS = 50

function M.new(on_error)
  local self = {}

  -- Yield for `ms` milliseconds; the event loop runs meanwhile. An error in the resumed coroutine goes to on_error.
  function self.sleep(ms)
    local co = coroutine.running()
    vim.defer_fn(function()
      local ok, err = coroutine.resume(co)
      if not ok then
        on_error(debug.traceback(co, err))
      end
    end, ms)
    coroutine.yield()
  end

  -- Poll `pred` every 50 ms until it returns a truthy value (returned) or `timeout_ms` passes (its last value).
  function self.wait_until(pred, timeout_ms)
    local deadline = vim.uv.now() + timeout_ms
    while vim.uv.now() < deadline do
      local v = pred()
      if v then
        return v
      end
      self.sleep(POLL_MS)
    end
    return pred()
  end

  return self
end

return M
