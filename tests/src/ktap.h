/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal KTAP (kselftest style) output for the scenario clients.
 *
 *	ktap_plan(N);			"TAP version 13" + "1..N"
 *	ktap_print_msg(fmt, ...);	"# ..." diagnostic
 *	ktap_pass(fmt, ...);		"ok K ..."
 *	ktap_fail(fmt, ...);		"not ok K ..."
 *	ktap_skip(desc, fmt, ...);	"ok K desc # SKIP reason"
 *	ktap_finished();		totals, exit 0 if nothing failed, else 1
 */
#ifndef KTAP_H
#define KTAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#ifndef __printf
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#endif
#ifndef __noreturn
#define __noreturn	__attribute__((noreturn))
#endif

static struct {
	unsigned int plan;
	unsigned int nr;
	unsigned int pass;
	unsigned int fail;
	unsigned int skip;
} ktap;

static inline void ktap_plan(unsigned int plan)
{
	/* Line-buffered so that fork() never duplicates pending output. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	ktap.plan = plan;
	printf("TAP version 13\n");
	printf("1..%u\n", plan);
}

static inline void ktap_vprint(const char *prefix, const char *fmt,
			       va_list ap, const char *suffix)
{
	fputs(prefix, stdout);
	vprintf(fmt, ap);
	fputs(suffix, stdout);
	fflush(stdout);
}

__printf(1, 2)
static inline void ktap_print_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ktap_vprint("# ", fmt, ap, "\n");
	va_end(ap);
}

__printf(1, 2)
static inline void ktap_pass(const char *fmt, ...)
{
	va_list ap;

	ktap.pass++;
	printf("ok %u ", ++ktap.nr);
	va_start(ap, fmt);
	ktap_vprint("", fmt, ap, "\n");
	va_end(ap);
}

__printf(1, 2)
static inline void ktap_fail(const char *fmt, ...)
{
	va_list ap;

	ktap.fail++;
	printf("not ok %u ", ++ktap.nr);
	va_start(ap, fmt);
	ktap_vprint("", fmt, ap, "\n");
	va_end(ap);
}

__printf(2, 3)
static inline void ktap_skip(const char *desc, const char *fmt, ...)
{
	va_list ap;

	ktap.skip++;
	printf("ok %u %s # SKIP ", ++ktap.nr, desc);
	va_start(ap, fmt);
	ktap_vprint("", fmt, ap, "\n");
	va_end(ap);
}

/* Report one case: pass if @ok, fail otherwise. */
static inline void ktap_result(bool ok, const char *desc)
{
	if (ok)
		ktap_pass("%s", desc);
	else
		ktap_fail("%s", desc);
}

static inline void __noreturn ktap_finished(void)
{
	if (ktap.nr != ktap.plan) {
		ktap_print_msg("planned %u cases but ran %u", ktap.plan,
			       ktap.nr);
		ktap.fail++;
	}
	ktap_print_msg("Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0",
		       ktap.pass, ktap.fail, ktap.skip);
	exit(ktap.fail ? 1 : 0);
}

#endif /* KTAP_H */
