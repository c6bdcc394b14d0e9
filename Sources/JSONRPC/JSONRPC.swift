// JSONRPC: see DESIGN.md §3. Filled by its issue.
