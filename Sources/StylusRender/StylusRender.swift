// StylusRender: the SD 1.x pipeline (docs/ARCHITECTURE.md; formats in docs/CONTRACTS.md, Renderer).
