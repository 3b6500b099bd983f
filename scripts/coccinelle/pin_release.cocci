// SPDX-License-Identifier: GPL-2.0
/// Pages obtained with pin_user_pages*() (FOLL_PIN) must be released with
/// unpin_user_page*(), and pages from get_user_pages*() (FOLL_GET) with
/// put_page(): a pin released with put_page() leaves GUP_PIN_COUNTING_BIAS
/// (or _pincount) behind, and an unpin of a plain reference underflows the
/// refcount.  Reports a release of the other kind on some path after the
/// call, in the same function, of the same pages array.
//
// Confidence: Moderate (the array may be refilled in between)
// Options: --no-includes --include-headers

virtual report

@pinned exists@
expression E, I, J, K, L, M, N;
position p;
@@
(
pin_user_pages_fast(I, J, K, E)
|
pin_user_pages_fast_revocable(I, J, K, E, ...)
|
pin_user_pages(I, J, K, E)
|
pin_user_pages_unlocked(I, J, E, K)
|
pin_user_pages_remote(L, I, J, K, E, M)
|
pin_user_pages_remote_revocable(L, I, J, K, E, M, N)
)
... when any
(
put_page@p(E[...])
|
put_page@p(*E)
|
folio_put@p(page_folio(E[...]))
|
release_pages@p(E, ...)
)

@script:python depends on report && pinned@
p << pinned.p;
@@
coccilib.report.print_report(p[0], "pages pinned with pin_user_pages*() released with put_page()/folio_put(): use unpin_user_page*()")

@got exists@
expression E, I, J, K, L, M;
position p;
@@
(
get_user_pages_fast(I, J, K, E)
|
get_user_pages(I, J, K, E)
|
get_user_pages_unlocked(I, J, E, K)
|
get_user_pages_remote(L, I, J, K, E, M)
)
... when any
(
unpin_user_page@p(E[...])
|
unpin_user_pages@p(E, ...)
|
unpin_user_pages_dirty_lock@p(E, ...)
)

@script:python depends on report && got@
p << got.p;
@@
coccilib.report.print_report(p[0], "pages from get_user_pages*() released with unpin_user_page*(): use put_page()")
