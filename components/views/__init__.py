"""One module per page: `render(ctx)` draws the whole page from a `components.page.PageContext`."""
