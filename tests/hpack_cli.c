/*
 * hpack_cli.c - a driver of the HPACK section for tests/hpack_diff.py.
 *
 *     cc -std=c99 -o hpack_cli tests/hpack_cli.c
 *
 * hpack_cli decode SEED
 *     One connection's decoder. Each input line is a command:
 *       reset        a new connection (hp_dec_init)
 *       max N        set the table's maximum to N (as a size update would)
 *       HEX          a header block, fed in random pieces (seeded by SEED)
 *     For a block it prints one line per field, "F NAMEHEX VALUEHEX N"
 *     (N: 1 if never indexed), then "END", or "ERR why" (and then only
 *     "ERR" for the blocks after).
 *
 * hpack_cli encode
 *     One connection's encoder. Each input line is a command:
 *       init N       a new connection: hp_enc_init with table size N
 *       size N       a size update at the start of the next block
 *       block F...   a block of fields, each HOW:HUFF:NAMEHEX:VALUEHEX
 *                    (HOW: 0 no index, 1 index, 2 never index; an empty
 *                    string is "-")
 *     For a block it prints the block as one line of hex ("-" if empty).
 */
#define _POSIX_C_SOURCE 200809L     /* getline */
#ifndef GS_HPACK_ENC_TABLE
#define GS_HPACK_ENC_TABLE 4096     /* the encoder may index */
#endif
#define GS_NO_MAIN
#include "../grpcstream.c"

/* Not in the server, which never indexes. */
/* hp_encode_size_update writes a dynamic table size update (6.3) telling
 * the peer's decoder its maximum is now `size` (at most its SETTINGS
 * value), and applies it to e's table (clamped to GS_HPACK_ENC_TABLE).
 * Only at the beginning of a header block; needs 6 bytes. */
static uint8_t *hp_encode_size_update(gs_hpack_enc *e, uint8_t *d,
                                      uint32_t size)
{
    hp_tab_set_max(hp_enc_view(e), size < e->tab.cap ? size : e->tab.cap);
    return hp_put_int(d, 0x20, 5, size);
}


#include <stdio.h>
#include <stdlib.h>

static gs_hpack_dec dec;
static gs_hpack_enc enc;
static uint64_t seed = 1;

static uint32_t rnd(uint32_t n)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return n ? (uint32_t)((seed >> 11) % n) : 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* unhex reads hex from s up to a char that is not hex into out. */
static size_t unhex(const char **s, uint8_t *out)
{
    size_t n = 0;
    while (hexval((*s)[0]) >= 0 && hexval((*s)[1]) >= 0) {
        out[n++] = (uint8_t)(hexval((*s)[0]) * 16 + hexval((*s)[1]));
        *s += 2;
    }
    return n;
}

static void puthex(const uint8_t *b, size_t n)
{
    size_t i;
    if (n == 0)
        putchar('-');
    for (i = 0; i < n; i++)
        printf("%02x", b[i]);
}

static void decode_block(const uint8_t *b, size_t n)
{
    size_t off = 0;
    int failed = 0;
    if (dec.state == HP_S_ERR) {
        puts("ERR");
        return;
    }
    hp_block_begin(&dec, UINT32_MAX);
    while (off < n && !failed) {
        size_t len = 1 + rnd(rnd(2) ? 8 : (uint32_t)n);
        uint8_t *piece;
        const uint8_t *p, *end;
        if (len > n - off)
            len = n - off;
        piece = malloc(len);
        memcpy(piece, b + off, len);
        p = piece;
        end = piece + len;
        while (p < end) {
            int r = hp_decode(&dec, &p, end);
            if (r == HP_FIELD) {
                printf("F ");
                puthex(dec.name, dec.name_over ? GS_MAX_HEADER : dec.name_len);
                putchar(' ');
                puthex(dec.value, dec.value_over ? GS_MAX_HEADER
                                                 : dec.value_len);
                printf(" %d%s\n", dec.never_indexed,
                       dec.name_over || dec.value_over ? " over" : "");
            } else if (r < 0) {
                failed = 1;
                break;
            }
        }
        free(piece);
        off += len;
    }
    if (!failed && hp_block_end(&dec) == 0)
        puts("END");
    else
        printf("ERR %s\n", dec.why);
}

static void encode_block(const char *s, uint8_t *out, uint8_t *name,
                         uint8_t *value, int size_update, uint32_t size)
{
    uint8_t *d = out, *start;
    if (size_update)
        d = hp_encode_size_update(&enc, d, size);
    while (*s) {
        int how, huff;
        size_t nl, vl;
        while (*s == ' ')
            s++;
        if (!*s || *s == '\n')
            break;
        how = *s - '0';
        huff = s[2] - '0';
        s += 4;
        nl = *s == '-' ? (s++, 0) : unhex(&s, name);
        s++;
        vl = *s == '-' ? (s++, 0) : unhex(&s, value);
        start = d;
        d = hp_encode(&enc, d, (const char *)name, nl, (const char *)value,
                      vl, how, huff);
        if ((size_t)(d - start) > hp_encode_max(nl, vl)) {
            puts("ERR hp_encode wrote more than hp_encode_max");
            return;
        }
    }
    puthex(out, (size_t)(d - out));
    putchar('\n');
}

int main(int argc, char **argv)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    static uint8_t b[1 << 20], name[1 << 16], value[1 << 16];
    int encode = argc > 1 && strcmp(argv[1], "encode") == 0;
    int size_update = 0;
    uint32_t size = 0;
    if (argc > 2)
        seed = strtoull(argv[2], NULL, 10) * 2654435761u + 1;
    hp_dec_init(&dec);
    hp_enc_init(&enc, 0);
    while ((got = getline(&line, &cap, stdin)) > 0) {
        if (strncmp(line, "reset", 5) == 0) {
            hp_dec_init(&dec);
        } else if (strncmp(line, "max ", 4) == 0) {
            hp_dec_set_max(&dec, (uint32_t)strtoul(line + 4, NULL, 10));
        } else if (strncmp(line, "init ", 5) == 0) {
            hp_enc_init(&enc, (uint32_t)strtoul(line + 5, NULL, 10));
        } else if (strncmp(line, "size ", 5) == 0) {
            size_update = 1;
            size = (uint32_t)strtoul(line + 5, NULL, 10);
        } else if (encode && strncmp(line, "block", 5) == 0) {
            encode_block(line + 5, b, name, value, size_update, size);
            size_update = 0;
        } else if (!encode) {
            const char *s = line;
            size_t n = unhex(&s, b);
            decode_block(b, n);
        }
        fflush(stdout);
    }
    free(line);
    return 0;
}
