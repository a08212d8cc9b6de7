/*
 * rvisor's vDSO: the time functions an x86-64 Linux process expects to find through
 * AT_SYSINFO_EHDR, computed from the sandbox's time page ("vvar") without trapping into the
 * sentry.
 *
 * The sentry maps this image (linked by build.rs with vdso.lds) right after one read-only
 * page that it writes: the vvar page, `struct vvar` below, found at a fixed distance before
 * the image (`__vvar_page`, defined by the linker script) with RIP-relative addressing, so the
 * image needs no relocation. The page layout, the seqlock protocol and the arithmetic are the
 * sentry's `time::vvar` and `time::params` (Rust); the two must stay identical, and the
 * sentry's unit tests run this very image against the Rust implementation.
 *
 * Everything the page cannot answer — other clock ids, a page not enabled (no usable TSC, not
 * calibrated yet), a write in progress, getcpu — is the real `syscall` instruction, which the
 * sentry handles like any other: the functions return what the kernel would (0 or -errno),
 * which is what glibc and musl expect from vDSO entry points.
 *
 * Constraints of a vDSO: no libc, no stack protector, no unwinding tables that need
 * relocation, no writable data, no absolute addresses; keep the stack use small (Go's runtime
 * calls these on small stacks).
 */

typedef unsigned int u32;
typedef unsigned long u64;
typedef unsigned __int128 u128;
typedef long i64;

/* include/uapi/linux/time.h */
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7

/* arch/x86/entry/syscalls/syscall_64.tbl */
#define NR_gettimeofday 96
#define NR_time 201
#define NR_clock_gettime 228
#define NR_clock_getres 229
#define NR_getcpu 309

#define NSEC_PER_SEC 1000000000UL
/* Resolution of the _COARSE clocks: one tick at CONFIG_HZ=250, as the sentry reports. */
#define COARSE_NSEC 4000000UL

/* `flags` bit: the parameters are valid and the TSC may be used. */
#define VVAR_TSC_ENABLED 1u

/* The time page. Offsets are part of the ABI with the sentry (time/vvar.rs). */
struct vvar {
	u32 seq;		/* 0: odd while the sentry writes */
	u32 flags;		/* 4: VVAR_TSC_ENABLED */
	u64 base_tsc;		/* 8: TSC value at the base point */
	u64 base_sns_lo;	/* 16: CLOCK_MONOTONIC at the base point, in ns << shift */
	u64 base_sns_hi;	/* 24 */
	u64 mult;		/* 32: ns per TSC tick, << shift */
	u32 shift;		/* 40 */
	u32 pad;		/* 44 */
	u64 realtime_offset;	/* 48: CLOCK_REALTIME - CLOCK_MONOTONIC, ns (two's complement) */
	u64 boottime_offset;	/* 56: CLOCK_BOOTTIME - CLOCK_MONOTONIC, ns */
};
_Static_assert(sizeof(struct vvar) == 64, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar, base_tsc) == 8, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar, mult) == 32, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar, shift) == 40, "vvar layout");
_Static_assert(__builtin_offsetof(struct vvar, realtime_offset) == 48, "vvar layout");

struct timespec {
	i64 tv_sec;
	i64 tv_nsec;
};

struct timeval {
	i64 tv_sec;
	i64 tv_usec;
};

struct timezone {
	int tz_minuteswest;
	int tz_dsttime;
};

/* Hidden, so the compiler addresses it RIP-relative and the linker resolves it statically. */
extern const struct vvar __vvar_page __attribute__((visibility("hidden")));

#define barrier() __asm__ __volatile__("" ::: "memory")
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

static inline long syscall2(long nr, long a, long b)
{
	long ret;
	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "a"(nr), "D"(a), "S"(b)
			     : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "a"(nr), "D"(a), "S"(b), "d"(c)
			     : "rcx", "r11", "memory");
	return ret;
}

/*
 * The TSC, read after every earlier load has completed, so it is not taken before the
 * sequence word and the parameters it is combined with. RDTSCP waits for them by itself and
 * is cheaper than LFENCE followed by RDTSC (measured here: about 3 ns per call). The sentry
 * enables the page only on CPUs that have it (time/tsc.rs `usable`), so it never faults.
 */
static inline u64 rdtsc_ordered(void)
{
	u32 lo, hi, aux;
	__asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
	(void)aux;
	return ((u64)hi << 32) | lo;
}

/*
 * The nanoseconds of `clock` (one of the page clocks) from the time page; returns 0 when the
 * caller must ask the sentry instead. The sentry's `ClockParams::clock_ns` is the same
 * computation:
 *     monotonic = (base_sns + max(tsc - base_tsc, 0) * mult) >> shift
 * in 128-bit arithmetic (no overflow for any TSC distance; the shifted base keeps the
 * sub-nanosecond remainder, so a parameter update is exactly continuous), plus the clock's
 * offset (wrapping), truncated to COARSE_NSEC for the _COARSE clocks.
 */
static inline int read_clock(long clock, u64 *out)
{
	const struct vvar *v = &__vvar_page;
	for (;;) {
		u32 seq = READ_ONCE(v->seq);
		barrier();
		if ((seq & 1) || !(READ_ONCE(v->flags) & VVAR_TSC_ENABLED)) {
			/* Being written, or not usable: the syscall path waits for the writer. */
			return 0;
		}
		u64 base_tsc = READ_ONCE(v->base_tsc);
		u128 base = ((u128)READ_ONCE(v->base_sns_hi) << 64) | READ_ONCE(v->base_sns_lo);
		u64 mult = READ_ONCE(v->mult);
		u32 shift = READ_ONCE(v->shift) & 127;
		u64 off = 0;
		if (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)
			off = READ_ONCE(v->realtime_offset);
		else if (clock == CLOCK_BOOTTIME)
			off = READ_ONCE(v->boottime_offset);
		u64 tsc = rdtsc_ordered();
		barrier();
		if (READ_ONCE(v->seq) != seq)
			continue;
		u64 delta = tsc > base_tsc ? tsc - base_tsc : 0;
		u64 ns = (u64)((base + (u128)delta * mult) >> shift) + off;
		if (clock == CLOCK_REALTIME_COARSE || clock == CLOCK_MONOTONIC_COARSE)
			ns -= ns % COARSE_NSEC;
		*out = ns;
		return 1;
	}
}

static inline int is_page_clock(long clock)
{
	return clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC ||
	       clock == CLOCK_REALTIME_COARSE || clock == CLOCK_MONOTONIC_COARSE ||
	       clock == CLOCK_BOOTTIME;
}

int __vdso_clock_gettime(long clock, struct timespec *ts)
{
	if (is_page_clock(clock)) {
		u64 ns;
		if (read_clock(clock, &ns)) {
			ts->tv_sec = (i64)(ns / NSEC_PER_SEC);
			ts->tv_nsec = (i64)(ns % NSEC_PER_SEC);
			return 0;
		}
	}
	return (int)syscall2(NR_clock_gettime, clock, (long)ts);
}

int __vdso_gettimeofday(struct timeval *tv, struct timezone *tz)
{
	if (tv) {
		u64 ns;
		if (!read_clock(CLOCK_REALTIME, &ns))
			return (int)syscall2(NR_gettimeofday, (long)tv, (long)tz);
		tv->tv_sec = (i64)(ns / NSEC_PER_SEC);
		tv->tv_usec = (i64)(ns % NSEC_PER_SEC / 1000);
	}
	if (tz) {
		/* The sandbox's timezone is UTC (the sentry answers the same). */
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

long __vdso_time(long *t)
{
	u64 ns;
	if (!read_clock(CLOCK_REALTIME, &ns))
		return syscall2(NR_time, (long)t, 0);
	long secs = (long)(ns / NSEC_PER_SEC);
	if (t)
		*t = secs;
	return secs;
}

int __vdso_clock_getres(long clock, struct timespec *res)
{
	/* Only when the page is in use: otherwise the sentry decides, as for clock_gettime. */
	int enabled = READ_ONCE(__vvar_page.flags) & VVAR_TSC_ENABLED;
	if (enabled && is_page_clock(clock)) {
		if (res) {
			int coarse = clock == CLOCK_REALTIME_COARSE || clock == CLOCK_MONOTONIC_COARSE;
			res->tv_sec = 0;
			res->tv_nsec = coarse ? (i64)COARSE_NSEC : 1;
		}
		return 0;
	}
	return (int)syscall2(NR_clock_getres, clock, (long)res);
}

long __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
	/* The sentry decides which CPU the sandbox sees. */
	return syscall3(NR_getcpu, (long)cpu, (long)node, (long)unused);
}

/* The un-prefixed names (Linux's vDSO exports both). */
int clock_gettime(long, struct timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval *, struct timezone *)
	__attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(long, struct timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
