/* Callers that release pages of the wrong kind: each must be reported. */
static int wrong_pin(unsigned long addr, struct page **pages)
{
	int i, n = pin_user_pages_fast(addr, 4, FOLL_WRITE, pages);

	for (i = 0; i < n; i++)
		put_page(pages[i]);
	return 0;
}

static int wrong_get(unsigned long addr, struct page **pages)
{
	int n = get_user_pages_fast(addr, 4, FOLL_WRITE, pages);

	if (n > 0)
		unpin_user_pages(pages, n);
	return 0;
}

static int right(unsigned long addr, struct page **pages)
{
	int n = pin_user_pages_fast(addr, 4, FOLL_WRITE, pages);

	if (n > 0)
		unpin_user_pages(pages, n);
	n = get_user_pages_fast(addr, 4, 0, pages);
	return 0;
}
