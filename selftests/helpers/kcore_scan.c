// SPDX-License-Identifier: GPL-2.0
/*
 * kcore_scan: look for pieces of qkdsim's seeded key stream in the RAM of
 * the running kernel, through /proc/kcore.
 *
 *	kcore_scan SEED NAME:BLOCK:OFFSET:LENGTH...
 *
 * A needle is LENGTH bytes of qkdsim block BLOCK from OFFSET, for the seed
 * SEED (Documentation/qkdsim.md). Every RAM segment of /proc/kcore (the
 * PT_LOAD headers with a physical address, outside the kernel image's own
 * mapping) is read once. A hit is a run of at least MIN_RUN bytes of
 * memory equal to a piece of a needle at the same place in it; so a copy
 * of a whole needle, or of a large enough part of it, is found at any
 * alignment. Output, one line per needle:
 *
 *	NAME hits N full F longest L
 *
 * (F: runs covering the whole needle), then up to 4 lines per needle
 * "# NAME at PADDR len L from OFFSET page FLAGS" (flags of the page from
 * /proc/kpageflags), and a last line "scanned BYTES bytes in MS ms".
 *
 * The scanner must not find itself: it never holds a needle in clear. It
 * keeps each needle XORed with a random mask (and the mask), and a hash
 * table of the needles' 8-byte windows, each an entry of its own, so no
 * more than 8 needle bytes are ever contiguous in its memory. Each aligned
 * 8-byte word of RAM is looked up in that table; a match is extended both
 * ways against the masked needle. Buffers that held copies of RAM are
 * erased before exit, and the kernel's kcore bounce buffer is overwritten
 * with an uninteresting page before the file is closed.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#define MIN_RUN		16
#define CHUNK		(1u << 20)
#define MAX_NEEDLES	64
#define MAX_LEN		65536
#define MAX_SEGS	64
#define MAX_SHOW	4
#define TEXT_START	0xffffffff80000000ull	/* kernel image, modules */

struct needle {
	char name[32];
	uint32_t len;
	uint8_t *masked;	/* needle ^ mask */
	uint8_t *mask;
	uint64_t hits, full, longest;
	uint64_t last_end;	/* physical end of the last run counted */
	unsigned int shown;
};

struct entry {
	uint64_t word;
	uint32_t needle;	/* index + 1; 0: empty slot */
	uint32_t off;
};

struct seg {
	uint64_t off, paddr, size;
};

static struct needle needles[MAX_NEEDLES];
static unsigned int nneedles;
static struct entry *table;
static uint64_t table_mask;
static int kcore_fd, flags_fd = -1;

static uint64_t splitmix64(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t hash64(uint64_t w)
{
	w ^= w >> 33;
	w *= 0xff51afd7ed558ccdull;
	w ^= w >> 33;
	return w;
}

static void wipe(void *p, size_t n)
{
	memset(p, 0, n);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

static void die(const char *what)
{
	fprintf(stderr, "kcore_scan: %s: %s\n", what, strerror(errno));
	exit(2);
}

static uint8_t needle_byte(const struct needle *n, uint32_t i)
{
	return n->masked[i] ^ n->mask[i];
}

/* NAME:BLOCK:OFFSET:LENGTH */
static void add_needle(uint64_t seed, const char *spec)
{
	struct needle *n = &needles[nneedles];
	unsigned long long block, off, len, i;
	char name[32];

	if (nneedles == MAX_NEEDLES ||
	    sscanf(spec, "%31[^:]:%llu:%llu:%llu", name, &block, &off, &len) != 4 ||
	    len < MIN_RUN || len > MAX_LEN) {
		fprintf(stderr, "kcore_scan: bad needle \"%s\"\n", spec);
		exit(2);
	}
	strcpy(n->name, name);
	n->len = (uint32_t)len;
	n->masked = malloc(len);
	n->mask = malloc(len);
	if (!n->masked || !n->mask)
		die("malloc");
	if (getrandom(n->mask, len, 0) != (ssize_t)len)
		die("getrandom");
	for (i = 0; i < len; i++) {
		uint64_t pos = off + i;
		uint64_t w = splitmix64(seed + (block << 32) + pos / 8);

		n->masked[i] = (uint8_t)(w >> (8 * (pos % 8))) ^ n->mask[i];
	}
	nneedles++;
}

static void table_build(void)
{
	uint64_t entries = 0, size = 1024;
	unsigned int i;
	uint32_t k, j;

	for (i = 0; i < nneedles; i++)
		entries += needles[i].len - 7;
	while (size < 4 * entries)
		size <<= 1;
	table = calloc(size, sizeof(*table));
	if (!table)
		die("calloc");
	table_mask = size - 1;
	for (i = 0; i < nneedles; i++) {
		for (k = 0; k + 8 <= needles[i].len; k++) {
			uint64_t w = 0, s;

			for (j = 0; j < 8; j++)
				w |= (uint64_t)needle_byte(&needles[i], k + j) << (8 * j);
			s = hash64(w) & table_mask;
			while (table[s].needle)
				s = (s + 1) & table_mask;
			table[s].word = w;
			table[s].needle = i + 1;
			table[s].off = k;
		}
	}
}

static const char *page_flags(uint64_t paddr, char *buf, size_t len)
{
	static const char *const names[] = {
		[5] = "lru", [7] = "slab", [10] = "buddy", [11] = "mmap",
		[12] = "anon", [15] = "head", [16] = "tail", [20] = "nopage",
		[26] = "pgtable",
	};
	uint64_t f;
	size_t used = 0;
	unsigned int b;

	if (flags_fd < 0 || pread(flags_fd, &f, sizeof(f),
				  (off_t)(paddr >> 12) * 8) != sizeof(f))
		return "?";
	buf[0] = 0;
	for (b = 0; b < sizeof(names) / sizeof(names[0]); b++)
		if ((f >> b) & 1 && names[b])
			used += snprintf(buf + used, len - used, "%s%s",
					 used ? "," : "", names[b]);
	if (!used)
		snprintf(buf, len, "none(0x%llx)", (unsigned long long)f);
	return buf;
}

/*
 * RAM at paddr (file offset foff in segment s) holds the needle's word at
 * needle offset k: measure the run of equal bytes around it.
 */
static void candidate(const struct seg *s, uint64_t paddr, struct needle *n,
		      uint32_t k)
{
	static uint8_t mem[MAX_LEN];
	uint64_t start = paddr - k, lo, hi, seg_end = s->paddr + s->size;
	uint32_t a, b;
	char fl[96];

	if (paddr < n->last_end)
		return;		/* inside a run already counted */
	/* The part of [start, start + len) inside the segment. */
	lo = start < s->paddr ? s->paddr : start;
	hi = start + n->len > seg_end ? seg_end : start + n->len;
	if (pread(kcore_fd, mem + (lo - start), hi - lo,
		  (off_t)(s->off + (lo - s->paddr))) != (ssize_t)(hi - lo))
		return;
	a = k;
	while (a > lo - start && mem[a - 1] == needle_byte(n, a - 1))
		a--;
	b = k;
	while (b < hi - start && mem[b] == needle_byte(n, b))
		b++;
	wipe(mem + (lo - start), hi - lo);
	if (b - a < MIN_RUN || b < k + 8)
		return;
	n->last_end = start + b;
	n->hits++;
	if (a == 0 && b == n->len)
		n->full++;
	if (b - a > n->longest)
		n->longest = b - a;
	if (n->shown++ < MAX_SHOW)
		printf("# %s at 0x%llx len %u from %u page %s\n", n->name,
		       (unsigned long long)(start + a), b - a, a,
		       page_flags(start + a, fl, sizeof(fl)));
}

static unsigned int read_segments(struct seg *segs)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	unsigned int i, n = 0;

	if (pread(kcore_fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64) {
		fprintf(stderr, "kcore_scan: /proc/kcore is not a 64-bit ELF file\n");
		exit(2);
	}
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(kcore_fd, &ph, sizeof(ph),
			  (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) != sizeof(ph))
			die("reading the program headers");
		if (ph.p_type != PT_LOAD || ph.p_paddr == (Elf64_Addr)-1 ||
		    ph.p_vaddr >= TEXT_START || n == MAX_SEGS)
			continue;
		segs[n].off = ph.p_offset;
		segs[n].paddr = ph.p_paddr;
		segs[n].size = ph.p_memsz;
		n++;
	}
	return n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct seg segs[MAX_SEGS];
	uint64_t seed, total = 0, t0;
	unsigned int nsegs, i;
	uint8_t *buf;
	int a;

	if (argc < 3) {
		fprintf(stderr, "usage: kcore_scan SEED NAME:BLOCK:OFFSET:LENGTH...\n");
		return 2;
	}
	seed = strtoull(argv[1], NULL, 0);
	for (a = 2; a < argc; a++)
		add_needle(seed, argv[a]);
	table_build();

	kcore_fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
	if (kcore_fd < 0)
		die("/proc/kcore");
	flags_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	nsegs = read_segments(segs);
	buf = aligned_alloc(4096, CHUNK);
	if (!buf)
		die("aligned_alloc");

	t0 = now_ms();
	for (i = 0; i < nsegs; i++) {
		const struct seg *s = &segs[i];
		uint64_t pos;

		for (pos = 0; pos < s->size; pos += CHUNK) {
			uint64_t len = s->size - pos < CHUNK ? s->size - pos : CHUNK;
			const uint64_t *w = (const uint64_t *)buf;
			ssize_t got;
			uint64_t j;

			got = pread(kcore_fd, buf, len, (off_t)(s->off + pos));
			if (got < 0)
				die("reading /proc/kcore");
			total += (uint64_t)got;
			for (j = 0; j < (uint64_t)got / 8; j++) {
				uint64_t h = hash64(w[j]) & table_mask;

				while (table[h].needle) {
					if (table[h].word == w[j])
						candidate(s, s->paddr + pos + j * 8,
							  &needles[table[h].needle - 1],
							  table[h].off);
					h = (h + 1) & table_mask;
				}
			}
		}
	}
	/* Leave an uninteresting page in the kernel's bounce buffer. */
	if (nsegs && pread(kcore_fd, buf, 4096, (off_t)segs[0].off) < 0)
		die("reading /proc/kcore");
	wipe(buf, CHUNK);
	close(kcore_fd);

	for (i = 0; i < nneedles; i++)
		printf("%s hits %llu full %llu longest %llu\n", needles[i].name,
		       (unsigned long long)needles[i].hits,
		       (unsigned long long)needles[i].full,
		       (unsigned long long)needles[i].longest);
	printf("scanned %llu bytes in %llu ms\n", (unsigned long long)total,
	       (unsigned long long)(now_ms() - t0));
	wipe(table, (table_mask + 1) * sizeof(*table));
	return 0;
}
