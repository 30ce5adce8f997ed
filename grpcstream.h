/*
 * grpcstream.h - a minimal gRPC streaming server core in C99.
 *
 * The caller owns one gs_node (static or wherever it likes), feeds it input
 * bytes with gs_feed(), lets streams run with gs_pump(), gives it the time
 * with gs_tick(), and drains the output bytes it produced with gs_output()
 * / gs_output_done(). main() in grpcstream.c is one such caller (a poll()
 * loop over stdin/stdout); define GS_NO_MAIN to leave it out.
 *
 * I/O: the core never touches a socket or a descriptor the caller gave it,
 * and never allocates. The one exception is the file log (gs_log_open,
 * POSIX hosts only): gs_log_open opens and reads FILE; Append (from
 * gs_feed) writes a line to it with open/write/close; gs_tick, at most
 * every 50 ms while a follower waits, calls stat/fstat and reads new lines
 * with pread; a stream reading the log (gs_pump, gs_feed) calls pread.
 * Build with -DGS_NO_FILE_LOG and the core calls no I/O function at all.
 * Float and double fields' JSON text uses snprintf and strtod; build with
 * -DGS_NO_FLOAT to leave them out (gs_register then refuses such fields).
 *
 * Every size is a compile-time macro below; sizeof(gs_node) is the whole
 * memory a configuration takes.
 */
#ifndef GRPCSTREAM_H
#define GRPCSTREAM_H

#include <stddef.h>
#include <stdint.h>

/* ===================================================================== */
/* Configuration: override any of these with -D at build time.           */
/* ===================================================================== */

#ifndef GS_MAX_STREAMS      /* stream slots: concurrent calls */
#define GS_MAX_STREAMS 100
#endif
#ifndef GS_MAX_ID           /* bytes of src, dest, node_id, stream_id */
#define GS_MAX_ID 255
#endif
#ifndef GS_MAX_VALUE        /* bytes of a string field (text, filter, level, msg) */
#define GS_MAX_VALUE 65536
#endif
#ifndef GS_MAX_DEPTH        /* JSON nesting kept on the scanner's stack (4..64) */
#define GS_MAX_DEPTH 64
#endif
#ifndef GS_MAX_METHODS      /* registered methods, built-ins included */
#define GS_MAX_METHODS 16
#endif
#ifndef GS_MAX_FIELDS       /* fields in one message type (32 bytes each in
                               every gs_msg) */
#define GS_MAX_FIELDS 8
#endif
#ifndef GS_MAX_CAPTURES     /* distinct payload fields the JSON front end reads
                               (top-level scalars of request types without
                               lists or messages; the others take none) */
#define GS_MAX_CAPTURES 12
#endif
#ifndef GS_MAX_STRING_CAPTURES /* of which strings (each GS_MAX_VALUE bytes) */
#define GS_MAX_STRING_CAPTURES 6
#endif
#ifndef GS_STREAM_STATE     /* per-stream bytes a service may use */
#define GS_STREAM_STATE (GS_MAX_VALUE + 128)
#endif
#ifndef GS_LOG_RING         /* bytes of the in-memory log ring (multiple of 8) */
#define GS_LOG_RING (1024 * 1024)
#endif
#ifndef GS_SLICE            /* messages a stream sends per turn */
#define GS_SLICE 64
#endif
#ifndef GS_OUT_BATCH        /* output gathered before the caller must drain */
#define GS_OUT_BATCH 65536
#endif

#ifndef GS_MAX_WHY          /* bytes of a status message (longer ones are cut) */
#define GS_MAX_WHY 256
#endif

/* Every documented range, enforced: a build outside them does not compile. */
#if GS_MAX_STREAMS < 1 || GS_MAX_STREAMS > 32767
#error "GS_MAX_STREAMS must be 1..32767 (slot indices are int16_t)"
#endif
#if GS_MAX_ID < 1 || GS_MAX_ID > 65535
#error "GS_MAX_ID must be 1..65535"
#endif
#if GS_MAX_VALUE < 16
#error "GS_MAX_VALUE must be at least 16"
#endif
#if GS_MAX_DEPTH < 4 || GS_MAX_DEPTH > 64
#error "GS_MAX_DEPTH must be 4..64 (one bit per depth in a uint64_t)"
#endif
#if GS_MAX_METHODS < 3 || GS_MAX_METHODS > 255
#error "GS_MAX_METHODS must be 3..255 (the built-ins take 3; indices are uint8_t)"
#endif
#if GS_MAX_FIELDS < 3 || GS_MAX_FIELDS > 255
#error "GS_MAX_FIELDS must be 3..255 (WatchRequest has 3)"
#endif
#if GS_MAX_CAPTURES < 6 || GS_MAX_CAPTURES > 255
#error "GS_MAX_CAPTURES must be 6..255 (the built-ins read 6; indices are uint8_t)"
#endif
#if GS_MAX_STRING_CAPTURES < 4 || GS_MAX_STRING_CAPTURES > GS_MAX_CAPTURES
#error "GS_MAX_STRING_CAPTURES must be 4..GS_MAX_CAPTURES (the built-ins read 4 strings)"
#endif
#if GS_LOG_RING < 64 || GS_LOG_RING % 8 != 0
#error "GS_LOG_RING must be a multiple of 8, at least 64"
#endif
#if GS_SLICE < 1 || GS_SLICE > 65534
#error "GS_SLICE must be 1..65534 (a turn's budget is uint16_t)"
#endif
#if GS_OUT_BATCH < 1
#error "GS_OUT_BATCH must be at least 1"
#endif
#if GS_MAX_WHY < 64 || GS_MAX_WHY > 65536
#error "GS_MAX_WHY must be 64..65536"
#endif

#define GS_MAX_NAME 64      /* service, method and type names */
#define GS_JSON_KEY_MAX 32  /* member names longer than this match nothing */

/* A string field of a reply may be this long: GS_MAX_VALUE plus room for
 * a prefix (the echo's "echo: "); a longer one ends its call
 * RESOURCE_EXHAUSTED. */
#define GS_MAX_OUT_VALUE ((size_t)GS_MAX_VALUE + 64)
/* The most output room one JSON reply may need. gs_register computes each
 * method's worst reply from its output descriptor (every string field
 * GS_MAX_OUT_VALUE bytes, escaped 6x) and refuses a method that needs more;
 * the default fits the built-ins' two string fields. */
#ifndef GS_REPLY_MAX
#define GS_REPLY_MAX (2 * 6 * GS_MAX_OUT_VALUE + 4 * 6 * (size_t)GS_MAX_ID + \
                      6 * (size_t)GS_MAX_WHY + 1024)
#endif
#define GS_OUT_SIZE (GS_REPLY_MAX + GS_OUT_BATCH)
/* The longest log file line: a JSON entry with both fields escaped. */
#define GS_LOG_LINE_MAX (2 * 6 * (size_t)GS_MAX_VALUE + 64)

/* ----- HTTP/2 (gRPC over h2c): GS_MAX_CONNS 0 leaves it all out ------- */

#ifndef GS_MAX_CONNS        /* HTTP/2 connections at once; each costs
                               sizeof(gs_h2_conn): about GS_H2_OUT + 2 x
                               GS_MAX_HEADER + GS_HPACK_TABLE * 1.2 bytes */
#define GS_MAX_CONNS 16
#endif
#ifndef GS_H2_OUT           /* a connection's output buffer */
#define GS_H2_OUT 65536
#endif
/* The largest gRPC message in or out (bytes, without its 5-byte prefix):
 * a request larger is answered RESOURCE_EXHAUSTED, and so is a call whose
 * reply would be. Independent of GS_MAX_VALUE, which limits each string
 * field; bytes fields are limited by this alone. GS_H2_BUF, an older name
 * for the same limit with the prefix counted, still sets it. */
#if !defined GS_MAX_MESSAGE && defined GS_H2_BUF
#define GS_MAX_MESSAGE (GS_H2_BUF - 5)
#endif
#ifndef GS_MAX_MESSAGE
#define GS_MAX_MESSAGE (2 * (size_t)GS_MAX_VALUE + 1019)
#endif
#ifndef GS_H2_BUF           /* bytes of each of a slot's two HTTP/2 buffers
                               (request bytes held, response bytes staged):
                               a framed largest message */
#define GS_H2_BUF ((size_t)GS_MAX_MESSAGE + 5)
#endif
/* A slot's response buffer: a largest message and a DATA frame more, so
 * that small messages can wait a frame's worth while the connection's
 * output is full (they move on to it from 4 KiB staged, so memory is
 * touched only that far past the largest message). A small part can set
 * it to GS_H2_BUF (a message at a time) and save 16 KiB a slot. */
#ifndef GS_H2_TX
#define GS_H2_TX (GS_H2_BUF + 16384)
#endif
#ifndef GS_METADATA        /* a request's custom metadata (gs_metadata):
                               bytes, 4 more per field; by default any the
                               header list limit admits. Costs GS_METADATA
                               bytes per connection and per slot, touched only
                               as far as requests carry metadata */
#define GS_METADATA 16384
#endif
#ifndef GS_METADATA_OUT    /* a response's (gs_set_header, gs_set_trailer),
                               the same way; costs as much per slot */
#define GS_METADATA_OUT 1024
#endif
#ifndef GS_H2_HEADER_LIST   /* SETTINGS_MAX_HEADER_LIST_SIZE we advertise */
#define GS_H2_HEADER_LIST 16384
#endif
#ifndef GS_H2_IDLE_MS       /* a connection that sends no frame this long is
                               closed (with calls open: after an unanswered
                               PING, twice this long) */
#define GS_H2_IDLE_MS 30000
#endif
#if GS_MAX_CONNS < 0 || GS_MAX_CONNS > 255
#error "GS_MAX_CONNS must be 0..255 (0: no HTTP/2)"
#endif
#if GS_MAX_CONNS > 0
#if GS_H2_OUT < 4096
#error "GS_H2_OUT must be at least 4096 (DATA frames are cut to what fits)"
#endif
#if GS_METADATA < 64 || GS_METADATA > 65535 || GS_METADATA_OUT < 64 || GS_METADATA_OUT > 4096
#error "GS_METADATA must be 64..65535, GS_METADATA_OUT 64..4096 (a response's fits one HEADERS frame)"
#endif
#endif

/* The dynamic table size we advertise as SETTINGS_HEADER_TABLE_SIZE: the
 * bytes of entries (RFC 7541 size: name + value + 32 each) the decoder's
 * table holds. Costs per connection GS_HPACK_TABLE bytes of ring plus an
 * index of GS_HPACK_TABLE / 32 entries of 6 bytes (12 above 65535):
 * 4096 -> 4096 + 768 bytes. Below 4096 (HTTP/2's initial value) a peer
 * that indexes more than this before it has seen our SETTINGS gets a
 * compression error instead of an answer. */
#ifndef GS_HPACK_TABLE
#define GS_HPACK_TABLE 4096
#endif

/* The longest header name or value the decoder stores; longer ones are
 * decoded and counted but not stored (flagged "over"). Costs 2 x
 * GS_MAX_HEADER bytes per connection (a name buffer and a value buffer).
 * Must be at least GS_HPACK_TABLE - 32 so that every field that fits the
 * dynamic table is one the decoder has stored. */
#ifndef GS_MAX_HEADER
#define GS_MAX_HEADER 4096
#endif

/* The encoder's own dynamic table, for a connection that indexes what it
 * sends. The server never does (it encodes with a zero-size table), so the
 * default 0 costs nothing; N costs N bytes of ring plus an index of N / 32
 * entries of 6 bytes. The tests set it to reproduce RFC 7541 Appendix C. */
#ifndef GS_HPACK_ENC_TABLE
#define GS_HPACK_ENC_TABLE 0
#endif

#if GS_HPACK_TABLE < 0 || GS_HPACK_TABLE > 16777216
#error "GS_HPACK_TABLE must be 0..16777216 (bytes)"
#endif
#if GS_HPACK_ENC_TABLE < 0 || GS_HPACK_ENC_TABLE > 16777216
#error "GS_HPACK_ENC_TABLE must be 0..16777216 (bytes)"
#endif
#if GS_MAX_HEADER < 1 || GS_MAX_HEADER > 16777216
#error "GS_MAX_HEADER must be 1..16777216 (bytes)"
#endif
#if GS_MAX_HEADER + 32 < GS_HPACK_TABLE
#error "GS_MAX_HEADER must be at least GS_HPACK_TABLE - 32"
#endif


/* ===================================================================== */
/* Status codes: gRPC's own numbers.                                      */
/* ===================================================================== */

typedef enum {
    GS_OK = 0, GS_CANCELLED, GS_UNKNOWN, GS_INVALID_ARGUMENT,
    GS_DEADLINE_EXCEEDED, GS_NOT_FOUND, GS_ALREADY_EXISTS,
    GS_PERMISSION_DENIED, GS_RESOURCE_EXHAUSTED, GS_FAILED_PRECONDITION,
    GS_ABORTED, GS_OUT_OF_RANGE, GS_UNIMPLEMENTED, GS_INTERNAL,
    GS_UNAVAILABLE, GS_DATA_LOSS, GS_UNAUTHENTICATED
} gs_status;

/* gs_status_name returns the canonical name of a status ("OK", ...). */
const char *gs_status_name(int status);

/* ===================================================================== */
/* Message descriptors: one static field table per message type.          */
/* ===================================================================== */

/* Field types: proto3's scalar types, enums and messages. The first three
 * keep their values (descriptors written before the others still work). */
typedef enum {
    GS_STRING, GS_UINT64, GS_BOOL,
    GS_INT32, GS_INT64, GS_UINT32, GS_SINT32, GS_SINT64,
    GS_FIXED32, GS_FIXED64, GS_SFIXED32, GS_SFIXED64,
    GS_FLOAT, GS_DOUBLE, GS_ENUM, GS_BYTES, GS_MESSAGE
} gs_type;

/* gs_field.flags. */
enum {
    GS_REPEATED = 1,        /* a list (scalars packed when sent, either way read) */
    GS_JSON_NUMBER = 2      /* a 64-bit integer JSON writes as a number and reads
                               only as one (PROTOCOL.md's fields; proto3's JSON
                               mapping writes a string and reads both) */
};

/* An enum's values: JSON writes a value by name (its number when it has
 * none) and reads either. */
typedef struct { const char *name; int32_t number; } gs_enum_value;
typedef struct { const gs_enum_value *values; unsigned n; } gs_enum;

typedef struct gs_desc gs_desc;

/* A field: its JSON name (a plain ASCII identifier), protobuf number, type,
 * flags, and for GS_MESSAGE its type, for GS_ENUM its values. */
typedef struct {
    const char *name;
    uint32_t number;
    gs_type type;
    unsigned flags;
    const gs_desc *msg;
    const gs_enum *enm;
} gs_field;

/* Field table entries: a scalar, string or bytes field; a list of them; a
 * message field; an enum field. flags: 0, GS_REPEATED, GS_JSON_NUMBER. */
#define GS_FIELD(name, number, type) { name, number, type, 0, NULL, NULL }
#define GS_LIST(name, number, type) { name, number, type, GS_REPEATED, NULL, NULL }
#define GS_MESSAGE_FIELD(name, number, desc, flags) { name, number, GS_MESSAGE, flags, desc, NULL }
#define GS_ENUM_FIELD(name, number, enm, flags) { name, number, GS_ENUM, flags, NULL, enm }

struct gs_desc {
    const char *name;
    const gs_field *fields;
    unsigned nfields;               /* at most GS_MAX_FIELDS */
};

typedef struct { const char *p; size_t n; } gs_str;

typedef struct gs_msg gs_msg;
typedef union gs_value gs_value;

/* A message field. Decoded: raw holds its encoded bytes (raw.p NULL when
 * absent; a field sent twice: its last occurrence); read it with
 * gs_decode. To send: msg points to it, or raw holds it encoded (msg
 * NULL), or both NULL (absent). */
typedef struct { const gs_msg *msg; gs_str raw; } gs_sub;

/* A repeated field: n elements. Decoded: they stay in the message's bytes
 * (wire), walked by gs_iter. To send: items points to n values, each set
 * as a singular field of the type would be (wire NULL). */
typedef struct {
    size_t n;
    const gs_value *items;
    gs_str wire;
} gs_list;

/* One field's value; which member holds it follows the field's type. */
union gs_value {
    gs_str s;       /* GS_STRING (UTF-8), GS_BYTES */
    uint64_t u;     /* GS_UINT64, GS_UINT32, GS_FIXED64, GS_FIXED32 */
    int64_t i;      /* GS_INT64, GS_INT32, GS_SINT64, GS_SINT32, GS_SFIXED64,
                       GS_SFIXED32, GS_ENUM */
    int b;          /* GS_BOOL */
    double d;       /* GS_DOUBLE */
    float f;        /* GS_FLOAT */
    gs_sub m;       /* GS_MESSAGE */
    gs_list r;      /* any field with GS_REPEATED */
};

/* A decoded message: v[i] holds desc->fields[i]. Strings and bytes point
 * into memory the core or the service owns (decoded ones: the request's
 * bytes); they are valid for the call that sees them. Absent fields hold
 * proto3's defaults (strings "", never NULL). */
struct gs_msg {
    const gs_desc *desc;
    gs_value v[GS_MAX_FIELDS];
};

/* gs_decode reads a message field's bytes (a decoded gs_sub's raw, or an
 * element gs_iter gave) as type d into *m: GS_OK, or GS_INTERNAL for
 * malformed bytes (*why says why; why may be NULL). A request's nested
 * messages were checked when it was decoded, so reading them cannot fail. */
int gs_decode(const gs_desc *d, gs_str raw, gs_msg *m, const char **why);

/* gs_iter walks field i of m, repeated, decoded or to be sent: start it
 * with gs_iter_start, then each gs_iter_next sets *v to the next element
 * (GS_MESSAGE elements: v->m, its raw bytes when decoded) and returns 1,
 * or returns 0 after the last. */
typedef struct {
    const gs_field *f;
    const gs_list *l;
    size_t i;
    const unsigned char *p, *end;       /* the message's bytes still to walk */
    const unsigned char *run, *run_end; /* a packed run being read */
} gs_iter;
void gs_iter_start(gs_iter *it, const gs_msg *m, unsigned i);
int gs_iter_next(gs_iter *it, gs_value *v);

/* ===================================================================== */
/* Services.                                                              */
/* ===================================================================== */

typedef struct gs_node gs_node;
typedef struct gs_stream gs_stream;

typedef enum { GS_UNARY, GS_SERVER_STREAMING, GS_BIDI_STREAMING, GS_CLIENT_STREAMING } gs_kind;

/* What next() returns besides a final status (which ends the stream). */
enum { GS_SEND = -1, GS_WAIT = -2, GS_AGAIN = -3 };

/*
 * A method. The core decodes requests into gs_msg by `in` and encodes what
 * the handlers fill in by `out`, whichever front end carries the call.
 * A message a handler gets to fill holds proto3's defaults: it sets the
 * fields it sends. What it points to (strings, bytes, sub-messages, list
 * items) must stay valid until the handler's caller returns: the message
 * is encoded then (static or stream-state memory, or gs_scratch).
 * Handlers return a gs_status; on a non-OK status they may set *why to a
 * message (default: the status name; at most GS_MAX_WHY bytes are sent).
 *
 * unary      (GS_UNARY): one request, fills *resp.
 * start      (GS_SERVER_STREAMING: with the request; GS_BIDI_STREAMING and
 *            GS_CLIENT_STREAMING: with req NULL, optional): sets up the
 *            stream's state
 *            (gs_stream_state). A non-OK status fails the call with that
 *            status and *why before it opens. A server stream that waits
 *            for future events calls gs_stream_follow() here.
 * next       (server streaming; bidi, optional): produce one message:
 *            GS_SEND (*out filled), GS_AGAIN (nothing yet, call again next
 *            turn), GS_WAIT (nothing until gs_wake or a timer), or a final
 *            status (GS_OK: normal end). A bidi stream's next() runs once
 *            recv or half_close asked for it (GS_AGAIN or GS_WAIT).
 * recv       (GS_BIDI_STREAMING): one client message in; GS_OK and *out is
 *            the reply; GS_AGAIN: taken without a reply, next() runs soon
 *            (its messages may answer it: a request with several replies
 *            or delayed ones); GS_WAIT: taken, next() runs once woken (or
 *            as already planned); any other status ends the stream.
 *            (GS_CLIENT_STREAMING): one client message in; GS_AGAIN when
 *            it is taken (*out is not used), any final status ends the
 *            call with it (GS_OK too: a call that ends before the client
 *            half-closes has no response).
 * half_close (bidi, optional): the client sent its last message. Return a
 *            final status to end the call (absent: GS_OK), or GS_AGAIN /
 *            GS_WAIT to go on sending with next() (the stream is then
 *            HALF_CLOSED until next() returns a final status).
 *            (client streaming, optional): a final status ends the call
 *            without a response; GS_AGAIN (absent: GS_AGAIN) / GS_WAIT
 *            asks next() for the response.
 * next       (GS_CLIENT_STREAMING, required): the one response, after the
 *            client half-closed: GS_SEND (*out filled: it is sent and the
 *            call ends OK), GS_AGAIN / GS_WAIT (not ready yet), or a final
 *            status (GS_OK without a response is answered INTERNAL).
 */
typedef struct gs_method {
    const char *service, *name;
    gs_kind kind;
    const gs_desc *in, *out;
    int (*unary)(gs_node *, const gs_msg *req, gs_msg *resp, const char **why);
    int (*start)(gs_node *, gs_stream *, const gs_msg *req, const char **why);
    int (*next)(gs_node *, gs_stream *, gs_msg *out, const char **why);
    int (*recv)(gs_node *, gs_stream *, const gs_msg *in, gs_msg *out,
                const char **why);
    int (*half_close)(gs_node *, gs_stream *, const char **why);
} gs_method;

/* gs_register adds a method (the caller keeps *m alive, and its
 * descriptors). Returns 0, or -1 (and nothing is kept) when
 * GS_MAX_METHODS, GS_MAX_FIELDS, GS_MAX_CAPTURES or GS_MAX_STRING_CAPTURES
 * is too small for it, a name is longer than GS_MAX_NAME (GS_JSON_KEY_MAX
 * for field names, GS_MAX_NAME for enum value names), a field is not valid
 * (number 0 or past 2^29-1, twice in a type, an unknown type or flag, a
 * message field without its type; float or double with GS_NO_FLOAT:
 * nested types are checked 8 levels deep), or a handler its kind needs is
 * missing. A reply type whose worst case does not fit GS_REPLY_MAX (JSON)
 * or GS_MAX_MESSAGE (protobuf), or has no bound (lists, messages, bytes),
 * is taken: each reply is measured, and one that does not fit ends its
 * call RESOURCE_EXHAUSTED. */
int gs_register(gs_node *node, const gs_method *m);

/* gs_unary_call, from a unary() handler, returns its call (for
 * gs_metadata, gs_set_header, gs_set_trailer); NULL elsewhere. */
gs_stream *gs_unary_call(gs_node *node);

/* gs_stream_state returns the GS_STREAM_STATE bytes (aligned for 64-bit
 * types) that belong to stream s while it lives. They are not cleared: a
 * service's start() sets what it uses. */
void *gs_stream_state(gs_stream *s);

/* gs_stream_count returns how many messages the server sent on s. */
uint64_t gs_stream_count(const gs_stream *s);

/* gs_stream_follow marks a server stream, from start(), as one that
 * outlives its request: it gets a stream id and waits for events. */
void gs_stream_follow(gs_stream *s);

/* gs_wake makes every stream of method m that waits (GS_WAIT) run again. */
void gs_wake(gs_node *node, const gs_method *m);

/* gs_stream_wake_after, from a handler of stream s that then returns
 * GS_WAIT, runs s's next() again `us` microseconds from the node's time
 * (rounded up to its millisecond clock; gs_tick fires it, gs_timeout
 * counts it, so nothing busy-waits). A gs_wake before then wakes s at once
 * and drops the timer; a later call replaces it. A stream waiting on a
 * timer is work left to do (gs_idle is 0). */
void gs_stream_wake_after(gs_node *node, gs_stream *s, uint64_t us);

/* Custom metadata (gRPC over HTTP/2; JSON lines carries none). Keys are
 * lower case; reserved ones (pseudo-headers, grpc-*, content-type, te,
 * connection-specific fields) are neither exposed nor settable. A key
 * ending in -bin has a binary value: base64 on the wire (padded or not
 * when read; padded when written), raw bytes here.
 *
 * gs_metadata returns the value of the request's first field `key` and
 * sets *len, or returns NULL. A request whose custom metadata takes more
 * than GS_METADATA bytes (4 more per field) is answered RESOURCE_EXHAUSTED,
 * one with a -bin value that is not base64 INTERNAL, before any handler.
 *
 * gs_set_header adds response initial metadata (before the stream's first
 * message), gs_set_trailer trailing metadata (before its end). They
 * return 0, or -1 (nothing kept) when the key is reserved or not a valid
 * lower-case name, the response's GS_METADATA_OUT bytes are used up, or the
 * headers already left. On a JSON-lines stream they return 0 and keep
 * nothing. */
const char *gs_metadata(gs_node *node, const gs_stream *s, const char *key, size_t *len);
int gs_set_header(gs_node *node, gs_stream *s, const char *key, const char *value, size_t len);
int gs_set_trailer(gs_node *node, gs_stream *s, const char *key, const char *value, size_t len);

/* gs_scratch returns n bytes a handler may fill for the message it
 * returns (valid until the message is written), or NULL if n is larger
 * than GS_MAX_VALUE + 64. */
char *gs_scratch(gs_node *node, size_t n);

/* ===================================================================== */
/* The node: feed bytes in, pump streams, drain bytes out.                */
/* ===================================================================== */

/* gs_init prepares *node (any memory, e.g. static) and registers the
 * built-in services LogWatcher and Chat. */
void gs_init(gs_node *node);

/* gs_feed reads JSON-lines input. It returns how many of the n bytes it
 * consumed: fewer than n when the output buffer needs draining first
 * (call gs_output_done, then feed the rest). Lines may be split anywhere. */
size_t gs_feed(gs_node *node, const char *in, size_t n);

/* gs_feed_end tells the node the input has ended: a last line without a
 * newline is handled. Call it after every byte was consumed; it returns 0
 * (call again) while the output needs draining first, else 1. */
int gs_feed_end(gs_node *node);

/* gs_log_open makes FILE the log (POSIX hosts; leave it out with
 * GS_NO_FILE_LOG): read in place, appended to by Append, followed like
 * tail -F (call gs_tick). Returns 0, or -1 (errno set) if it can't open;
 * built with GS_NO_FILE_LOG, always -1 (errno untouched). */
int gs_log_open(gs_node *node, const char *path);

/* gs_set_diagnostic sets where this node reports what it cannot answer
 * (a line with no usable src, a bad line of the log file); the default
 * drops them. */
void gs_set_diagnostic(gs_node *node, void (*fn)(gs_node *node, const char *what));

/* gs_pump gives every runnable stream one turn of up to GS_SLICE messages,
 * as output room allows. Returns 1 if a stream can still run (call again
 * soon), 0 if every stream is waiting or done. */
int gs_pump(gs_node *node);

/* gs_tick gives the node the time (milliseconds on any monotonic clock)
 * and ends every call whose deadline (timeout_ms) has passed with
 * DEADLINE_EXCEEDED, as output room allows. Call it before gs_feed and
 * whenever gs_timeout's wait is over. */
void gs_tick(gs_node *node, uint64_t now_ms);

/* gs_timeout returns the milliseconds until the next deadline, 0 if one
 * is due, or -1 if no call has a deadline (sleep until input arrives). */
int64_t gs_timeout(const gs_node *node);

/* gs_runnable says a stream can run now: call gs_pump before waiting for
 * I/O. (Draining a connection's output can let a paused stream go on.) */
int gs_runnable(const gs_node *node);

/* gs_idle says nothing is left to do unless input comes: no stream can
 * run and no call waits for its deadline (followers may still wait). */
int gs_idle(const gs_node *node);

/* gs_output returns the bytes produced so far and sets *n to their count. */
const char *gs_output(gs_node *node, size_t *n);

/* gs_output_done tells the node the first n output bytes were written;
 * n larger than what is pending counts as all of it. */
void gs_output_done(gs_node *node, size_t n);

/* gs_output_full says the output buffer should be drained before more
 * input or streams can be handled. */
int gs_output_full(const gs_node *node);

/* ===================================================================== */
/* gRPC over HTTP/2 (h2c, prior knowledge): one connection slot per TCP   */
/* connection, fed and drained by the caller. Not with GS_MAX_CONNS 0.    */
/* ===================================================================== */

/* gs_conn_open takes a connection slot for a new TCP connection and
 * queues the server's SETTINGS as its first output. Returns the slot
 * (0 .. GS_MAX_CONNS-1), or -1 when every slot is taken (close the
 * socket). */
int gs_conn_open(gs_node *node);

/* gs_conn_feed reads bytes the peer sent on connection `conn` (call
 * gs_tick first: the connection's timers run on the node's clock). It returns
 * how many it consumed: fewer than n while the connection's output needs
 * draining (call gs_conn_output, write, gs_conn_output_done, then feed
 * the rest). Bytes may be split anywhere. */
size_t gs_conn_feed(gs_node *node, int conn, const char *in, size_t n);

/* gs_conn_output first writes into the connection's buffer whatever its
 * streams may send now (headers, DATA within the peer's windows,
 * trailers), then returns the bytes waiting to be written and sets *n to
 * their count. Call it for every open connection before waiting for I/O. */
const char *gs_conn_output(gs_node *node, int conn, size_t *n);

/* gs_conn_output_done: the first n output bytes were written (n larger
 * than what is pending counts as all of it). */
void gs_conn_output_done(gs_node *node, int conn, size_t n);

/* gs_conn_closing says the connection has ended (a GOAWAY for an error,
 * an idle timeout, or the end of a shutdown) and its output is written
 * (or the peer has read none of it for GS_H2_IDLE_MS): close the socket
 * now, then call gs_conn_close. */
int gs_conn_closing(const gs_node *node, int conn);

/* gs_conn_close frees the slot: the peer is gone or the connection ended.
 * Its calls still running are cancelled; nothing more is written. */
void gs_conn_close(gs_node *node, int conn);

/* gs_conn_goaway starts a graceful shutdown on every connection: GOAWAY
 * NO_ERROR, no new streams; calls in flight go on. gs_conn_live says how
 * many calls (HTTP/2 streams holding a slot) are left on a connection. */
void gs_conn_goaway(gs_node *node);
unsigned gs_conn_live(const gs_node *node, int conn);

/* gs_end_calls ends every call still running with `status` (UNAVAILABLE
 * at the end of a shutdown's grace period). */
void gs_end_calls(gs_node *node, int status, const char *why);

/* ===================================================================== */
/* JSON (json.c): a push scanner and a json.dumps-exact writer.           */
/* ===================================================================== */

/* Events gs_json_next returns. */
enum {
    GS_JSON_MORE,       /* the input is used up; feed more */
    GS_JSON_MEMBER,     /* a member name of an entered object: key, key_len */
    GS_JSON_VALUE,      /* a wanted value: kind (objects: at their start) */
    GS_JSON_LINE,       /* a line ended: status */
    GS_JSON_ELEMENT,    /* an element of an array is next (gs_json_elements) */
    GS_JSON_END         /* a container closed (gs_json_report_end) */
};
enum { GS_JV_NULL = 1, GS_JV_FALSE, GS_JV_TRUE, GS_JV_NUMBER, GS_JV_STRING,
       GS_JV_OBJECT, GS_JV_ARRAY };
enum { GS_JL_OK, GS_JL_BLANK, GS_JL_ERROR };

/* A wanted scalar as the scanner stored it (gs_json_want_into). */
typedef struct {
    uint8_t kind;                   /* GS_JV_*; 0 until the value ends */
    uint8_t over;                   /* a string longer than its sink */
    uint8_t num_neg, num_int, num_big;
    size_t len;                     /* a string's bytes in the sink */
    uint64_t num_mag;               /* a number's magnitude, if it fits */
} gs_json_value;

/* A member an object expects (gs_json_expect), matched by the scanner. */
typedef struct gs_json_key gs_json_key;
struct gs_json_key {
    const char *name;               /* at most GS_JSON_KEY_MAX bytes */
    uint8_t len;
    uint64_t head;                  /* its first 8 bytes, zero-padded */
    uint8_t tag;                    /* reported as key_tag (into == NULL) */
    gs_json_value *into;            /* or: the scalar is stored here */
    char *sink;                     /* with its string bytes here */
    size_t cap;
    const gs_json_key *sub;         /* an object value is entered expecting these */
    uint8_t nsub;                   /* (gs_json_key_nest) */
    uint64_t head_mask;             /* its bytes of head; 0: not compared in place */
};

/* Objects up to this depth can expect keys (gs_json_expect). */
#define GS_JSON_KEYED 4

/* Line shapes (gs_json_learn): a line read whole, without an event before
 * its end, is kept as a shape: its bytes, and where each value the scanner
 * stored went. A string or integer that differs between two lines of one
 * shape becomes a hole, matched as any plain string or integer. A later
 * line whole in the chunk that is the shape's bytes around its holes is
 * stored from the shape without the scanner; any other line is scanned as
 * before. GS_JSON_SHAPES shapes of up to GS_JSON_SHAPE_BYTES bytes, each
 * with up to GS_JSON_SHAPE_PARTS strings and integers and as many stored
 * values; a gs_json_shapes costs (GS_JSON_SHAPES + 1) x
 * (GS_JSON_SHAPE_BYTES + 40 + 60 x GS_JSON_SHAPE_PARTS) + 16 x
 * GS_JSON_SHAPE_PARTS bytes on a 64-bit host, 16,048 by default. 0 leaves
 * it out. */
#ifndef GS_JSON_SHAPES
#define GS_JSON_SHAPES 8
#endif
#ifndef GS_JSON_SHAPE_BYTES
#define GS_JSON_SHAPE_BYTES 256
#endif
#ifndef GS_JSON_SHAPE_PARTS
#define GS_JSON_SHAPE_PARTS 24
#endif
#if GS_JSON_SHAPES < 0 || GS_JSON_SHAPES > 255 || GS_JSON_SHAPE_BYTES > 65535 || \
    GS_JSON_SHAPE_PARTS < 1 || GS_JSON_SHAPE_PARTS > 64
#error "GS_JSON_SHAPES must be 0..255, GS_JSON_SHAPE_BYTES at most 65535, GS_JSON_SHAPE_PARTS 1..64"
#endif

#if GS_JSON_SHAPES > 0
typedef struct {                    /* a string or integer of a shape */
    uint16_t at;                    /* where it is in text (a string's: past its quote) */
    uint16_t len;                   /* a constant's bytes there (a hole has none) */
    uint16_t from;                  /* where it was in the line learned */
    uint8_t integer;
    uint8_t hole;                   /* a hole, not a constant */
} gs_json_part;

typedef struct {                    /* a value the scanner stores */
    const gs_json_key *key;         /* by this key: */
    gs_json_value *into;            /* its into, sink and cap */
    char *sink;
    size_t cap;
    uint64_t mag;                   /* a constant integer's magnitude */
    uint16_t at, len;               /* a constant string's bytes in text */
    uint8_t op;                     /* what it stores (json.c: S_*) */
    uint8_t hole;                   /* a hole's value: its index */
    uint8_t neg;                    /* a constant integer's sign */
    uint8_t over;                   /* a constant string longer than cap */
    uint8_t kind;                   /* a container's or literal's kind */
} gs_json_store;

typedef struct {
    uint16_t len;                   /* bytes of text, '\n' included */
    uint8_t nholes, nparts, nstores;
    uint8_t op_end[5];              /* stores by what they do (json.c) */
    uint64_t skeleton;              /* a hash of its bytes but its parts' */
    uint64_t hole_mask;             /* which parts are holes */
    char text[GS_JSON_SHAPE_BYTES + 16];    /* 16 more: json.c reads 16 at once */
    struct { uint16_t at; uint8_t integer; } holes[GS_JSON_SHAPE_PARTS];
    gs_json_part parts[GS_JSON_SHAPE_PARTS];
    gs_json_store stores[GS_JSON_SHAPE_PARTS];  /* in the order the scanner stores */
} gs_json_shape;

typedef struct {                    /* the shapes one scanner learns */
    uint8_t used;                   /* shapes learned (gs_json_learn: none) */
    uint8_t order[GS_JSON_SHAPES];  /* tried in this order: most used first */
    uint32_t hits[GS_JSON_SHAPES];  /* lines matched, halved as new ones come */
    struct { uint16_t value; const gs_json_key *key; } stored[GS_JSON_SHAPE_PARTS];
    gs_json_shape shape[GS_JSON_SHAPES];    /* touched only once learned */
    gs_json_shape spare;            /* where a new one is built */
} gs_json_shapes;
#endif

/* The scanner. Fields below "results" are for reading after an event. */
typedef struct {
    uint8_t state, depth, want, in_key, high_ok;
    uint64_t objects, entered, ends;    /* one bit per depth */
    uint32_t deep;                  /* nesting beyond GS_MAX_DEPTH */
    uint8_t deep_str, deep_esc;
    uint8_t u8_need, u8_lo, u8_hi;  /* UTF-8 continuation bytes owed */
    uint8_t hex_n;
    uint32_t hex, high;             /* \u digits; pending high surrogate */
    const char *lit;                /* rest of true/false/null */
    char *sink;                     /* where a wanted string goes */
    size_t sink_cap;
    gs_json_value *into;            /* where a wanted scalar is stored */
    const gs_json_key *into_key;    /* the expected key it is for, if any */
    const gs_json_key *top;         /* what each line's value is (gs_json_expect_top) */
    const gs_json_key *keys[GS_JSON_KEYED + 1];  /* by depth (gs_json_expect) */
    uint8_t nkeys[GS_JSON_KEYED + 1];
    uint8_t key_next[GS_JSON_KEYED + 1];  /* where the next search starts */
    /* results */
    uint8_t kind, status, too_deep;
    uint8_t str_over;               /* the string did not fit the sink */
    size_t str_len;                 /* bytes in the sink (at most its size);
                                       without a sink, the decoded length */
    uint8_t num_neg, num_int, num_big;  /* integer? beyond 64 bits? */
    uint64_t num_mag;
    size_t key_len;
    uint8_t key_over;
    uint8_t key_tag;                /* an expected key's tag; 0 otherwise */
    char key[GS_JSON_KEY_MAX];
#if GS_JSON_SHAPES > 0
    gs_json_shapes *shapes;         /* NULL: nothing learned (gs_json_learn) */
    uint8_t learning;               /* this line may become a shape */
    uint8_t nstored;                /* stores the line made: shapes->stored */
    uint16_t values;                /* values the line has begun */
    const char *line, *line_end;    /* it, whole in the chunk: its '\n' */
    uint64_t shaped;                /* lines stored from a shape, counted */
#endif
} gs_json;

/* gs_json_reset prepares a scanner for a new stream of lines. */
void gs_json_reset(gs_json *j);

/* gs_json_next scans from *p to end and returns the next event, advancing
 * *p past the bytes it used. A '\n' ends every line, whatever its state. */
int gs_json_next(gs_json *j, const char **p, const char *end);

/* gs_json_want, called right after GS_JSON_MEMBER, asks for the member's
 * value: scalars are reported by GS_JSON_VALUE when complete (strings are
 * unescaped into sink, up to cap bytes; str_over if longer), objects at
 * their start and then entered, arrays at their start and then skipped.
 * A value not wanted is checked and skipped without being stored. */
void gs_json_want(gs_json *j, char *sink, size_t cap);

/* gs_json_want_into is gs_json_want for a consumer that only keeps a
 * scalar: *into is cleared now and filled when the scalar ends, without a
 * GS_JSON_VALUE (one return to the caller fewer per member). A container
 * is kept as its kind alone and skipped, unreported. */
void gs_json_want_into(gs_json *j, char *sink, size_t cap, gs_json_value *into);

/* gs_json_elements, called right after the GS_JSON_VALUE of an array,
 * has its elements reported: GS_JSON_ELEMENT comes before each, and
 * gs_json_want may then ask for it as for a member's value. */
void gs_json_elements(gs_json *j);

/* gs_json_report_end, called right after the GS_JSON_VALUE of a container
 * (an object, or an array given gs_json_elements), has its close reported
 * by GS_JSON_END. */
void gs_json_report_end(gs_json *j);

/* gs_json_expect, called right after the GS_JSON_VALUE of an entered
 * object at depth <= GS_JSON_KEYED, gives the n members it expects. The
 * scanner then matches member names itself: a key with `into` has its
 * value wanted there (gs_json_want_into) without an event; a key without
 * is reported by GS_JSON_MEMBER with its tag in key_tag; other members
 * are skipped unreported. keys must outlive the object. */
void gs_json_expect(gs_json *j, const gs_json_key *keys, unsigned n);

/* gs_json_key_set fills an expected key (name must outlive it). */
void gs_json_key_set(gs_json_key *k, const char *name, int tag, gs_json_value *into,
                     char *sink, size_t cap);

/* gs_json_key_nest makes key k (which has `into`) lead to an object: when
 * its value is an object the scanner enters it expecting its n keys, with
 * no event for the member or the object (into->kind says GS_JV_OBJECT),
 * unless k has a tag: then the entered object is reported by
 * GS_JSON_VALUE (key_tag says which), so its consumer can call
 * gs_json_report_end. The consumer clears into->kind and the kinds the
 * keys below k store (all the way down) before each line; a member k
 * named twice in one line has the scanner clear those of its first
 * value itself, so the last one counts. sub must outlive k. */
void gs_json_key_nest(gs_json_key *k, const gs_json_key *sub, unsigned n);

/* gs_json_expect_top makes each line's value as if it were the value of
 * member `top` (into set, usually with gs_json_key_nest): no GS_JSON_VALUE
 * for it. NULL restores the default (the top value is reported). */
void gs_json_expect_top(gs_json *j, const gs_json_key *top);

#if GS_JSON_SHAPES > 0
/* gs_json_learn has the scanner learn line shapes into *s (see
 * GS_JSON_SHAPES) and forgets what it had learned; call it again whenever
 * the keys the scanner expects change (gs_json_expect_top, gs_json_key_set
 * and gs_json_key_nest on keys in use), and NULL stops learning. A line
 * stored from a shape returns GS_JSON_LINE with status GS_JL_OK and
 * too_deep 0, and stores what the scanner would have stored; the other
 * result fields (kind, str_len, num_*, key*) are then unspecified, and a
 * gs_json_value keeps only the fields of its kind: over and len for a
 * string, num_* for an integer. */
void gs_json_learn(gs_json *j, gs_json_shapes *s);
#endif

/* gs_utf8_valid says whether s[0..n) is valid UTF-8 (RFC 3629). */
int gs_utf8_valid(const char *s, size_t n);

/* Writers: each writes at d, which must have room, and returns the end.
 * gs_json_put_str writes a quoted string exactly as Python's json.dumps
 * (ensure_ascii): needs 6 * n + 2 bytes. */
char *gs_json_put_str(char *d, const char *s, size_t n);
/* gs_json_str_size: exactly how many bytes gs_json_put_str writes for s. */
size_t gs_json_str_size(const char *s, size_t n);
char *gs_json_put_u64(char *d, uint64_t v);
char *gs_json_put_int(char *d, int neg, uint64_t mag);

/* ===================================================================== */
/* Internals. Public only so the caller can own the memory; do not touch. */
/* ===================================================================== */

/* Storage for a table of N bytes (at least one of each: C has no empty
 * arrays). An entry takes at least 32 bytes of the size. */
#define GS_HPACK_RING(n) ((n) > 0 ? (n) : 1)
#define GS_HPACK_SLOTS(n) ((n) >= 32 ? (n) / 32 : 1)

#if GS_HPACK_TABLE <= 65535 && GS_HPACK_ENC_TABLE <= 65535
typedef uint16_t gs_hpack_len;
#else
typedef uint32_t gs_hpack_len;
#endif

/* A dynamic table entry: its name then its value at ring offset off (the
 * bytes may wrap around the ring's end). */
typedef struct {
    gs_hpack_len off, nlen, vlen;
} gs_hpack_entry;

/* A dynamic table's bookkeeping. Its storage (an entry array of
 * GS_HPACK_SLOTS(cap) slots and a ring of GS_HPACK_RING(cap) bytes) sits
 * beside it in the decoder or encoder. Entries and their bytes are first
 * in, first out: the newest entry's bytes end at head, the older ones lie
 * before it, so new bytes never land on a live entry. */
typedef struct {
    uint32_t size;      /* RFC 7541 size of the entries */
    uint32_t max;       /* the maximum size now (size updates change it) */
    uint32_t cap;       /* bytes of storage: size never exceeds it */
    uint32_t slots;     /* GS_HPACK_SLOTS(cap) */
    uint32_t head;      /* ring offset where the next entry's bytes go */
    uint32_t newest;    /* slot of the newest entry */
    uint32_t count;     /* entries */
} gs_hpack_table;

/* The decoder: one per connection, for the header blocks it receives. */
typedef struct {
    uint8_t state;              /* where in a representation it is */
    uint8_t rep;                /* the representation being decoded */
    uint8_t int_for;            /* what the integer being read is */
    uint8_t int_shift;          /* bits of it read after the prefix */
    uint8_t str_huff;           /* the string is Huffman coded */
    uint8_t str_value;          /* the string is the value (else the name) */
    uint8_t huff_bits;          /* bits waiting in huff_acc */
    uint32_t int_val;
    uint32_t str_left;          /* encoded bytes of the string still to come */
    uint64_t huff_acc;          /* Huffman bits not yet decoded (low end) */
    uint32_t fields;            /* fields decoded in this block */
    uint32_t list_limit;
    gs_hpack_table tab;
    gs_hpack_entry ent[GS_HPACK_SLOTS(GS_HPACK_TABLE)];
    uint8_t ring[GS_HPACK_RING(GS_HPACK_TABLE)];
    /* results */
    const char *why;            /* what the last error was */
    uint64_t list_size;         /* name + value + 32 of the block's fields */
    uint8_t list_over;          /* list_size went past list_limit */
    uint8_t name_over, value_over;  /* longer than GS_MAX_HEADER: not stored */
    uint8_t never_indexed;      /* the field came as "never indexed" */
    uint32_t name_len, value_len;   /* decoded lengths (UINT32_MAX at most) */
    uint8_t name[GS_MAX_HEADER];
    uint8_t value[GS_MAX_HEADER];
} gs_hpack_dec;

/* The encoder: one per connection, for the header blocks it sends. */
typedef struct {
    gs_hpack_table tab;
    gs_hpack_entry ent[GS_HPACK_SLOTS(GS_HPACK_ENC_TABLE)];
    uint8_t ring[GS_HPACK_RING(GS_HPACK_ENC_TABLE)];
} gs_hpack_enc;

/* ----- HTTP/2 (GS_MAX_CONNS > 0) -------------------------------------- */

typedef struct {                    /* the HTTP/2 front end's part */
    uint32_t sid;                   /* its HTTP/2 stream id */
    uint8_t conn;                   /* its connection slot */
    uint8_t json;                   /* application/grpc+json */
    uint8_t headers_sent;           /* response HEADERS written */
    uint8_t peer_ended;             /* the client sent END_STREAM */
    uint8_t reset;                  /* RST_STREAM sent or received */
    uint8_t ended;                  /* the call ended: trailers owed */
    uint8_t nreq;                   /* request messages seen (unary, server) */
    uint8_t started;                /* the call core runs it */
    uint16_t http_status;           /* a plain HTTP answer (415...), or 0 */
    uint32_t rx_len;                /* request bytes held in rx */
    uint32_t tx_off, tx_len;        /* response bytes staged in tx */
    int64_t send_window;            /* what the peer lets us send */
    int64_t recv_window;            /* what the peer may still send us */
    int64_t content_length;         /* -1: none given */
    uint64_t data_len;              /* DATA bytes received */
    uint8_t end_status;
    uint16_t why_len;
    uint16_t md_in_len, md_out_len;     /* bytes in the slot's metadata */
    char why[GS_MAX_WHY];
} gs_h2_stream;

/* GS_CLOSING: the call is over, its front end still holds the slot (an
 * HTTP/2 answer waiting for window), or the slot holds no call at all. */
typedef enum { GS_FREE, GS_OPEN, GS_HALF_CLOSED, GS_CLOSING } gs_state;

typedef struct { int has, neg; uint64_t mag; } gs_reply_to;

typedef struct {                    /* the JSON-lines front end's part */
    uint64_t id;                    /* s<id>; 0: a plain server stream */
    gs_reply_to opened_by;          /* the request that opened it */
    int16_t next_in_bucket;         /* live streams by id */
    size_t owner_len;
    char owner[GS_MAX_ID];          /* the src that opened it */
} gs_jl_stream;

struct gs_stream {                  /* the call core's part */
    const gs_method *method;
    uint8_t method_index;           /* its place in node->methods */
    uint8_t front;                  /* the front end that carries it */
    uint8_t state, follows, waiting, queued, parked, kind;
    uint16_t budget;                /* next() calls left in this turn */
    uint64_t serial;                /* admission order */
    uint64_t deadline;              /* gs_tick time it ends at; 0: none */
    uint64_t wake_ms;               /* gs_tick time its timer fires; 0: none */
    uint64_t count;                 /* messages the server sent */
    int16_t next_free, self;
    union {                         /* what its front end keeps */
        gs_jl_stream jl;
#if GS_MAX_CONNS > 0
        gs_h2_stream h2;
#endif
    } fe;
    char *state_area;               /* its bytes in node->stream_states
                                       (NULL until the slot's first call) */
};

/* A stream's state lives apart from its slot: the slots then share pages,
 * which gs_init writes, and an area costs only the pages a service uses. */
typedef union { uint64_t align; char bytes[GS_STREAM_STATE]; } gs_state_area;

#define GS_JSON_SMALL 48             /* a number, enum name or float as a string */

typedef struct {                    /* one JSON payload field, per line */
    uint8_t container;              /* 1: request, 2: data */
    const char *name;
    uint8_t type;                   /* gs_type */
    gs_json_value v;                /* what the line held */
    char *buf;                      /* strings and bytes: GS_MAX_VALUE bytes;
                                       numbers and enums: small */
    char small[GS_JSON_SMALL];
} gs_capture;

typedef struct { gs_json_value v; char buf[GS_MAX_ID]; } gs_idbuf;
typedef struct { gs_json_value v; char buf[GS_MAX_NAME]; } gs_namebuf;

typedef struct {                    /* what a line said, as far as needed */
    gs_json_value top, body, payload[3];    /* their kinds: objects? */
    uint8_t type_id;
    gs_json_value msg_id_value, timeout;
    gs_reply_to msg_id;             /* msg_id as replies echo it */
    gs_idbuf src, dest, node_id, stream_id;
    gs_namebuf type, service, method;
} gs_line;

typedef struct {                    /* the log: a ring of entries, or a file */
    uint64_t first_seq, next_seq;   /* seq of the oldest / next entry */
    uint64_t tail, head;            /* absolute byte positions */
    union { uint64_t align; char bytes[GS_LOG_RING]; } ring;
    int fd;                         /* the file (--log), or -1 */
    uint64_t gen;                   /* bumped when the file starts anew */
#ifndef GS_NO_FILE_LOG
    uint64_t known, entries, lines, checked_ms, ino, dev, win_off;
    size_t win_len;
    gs_json scan;
    char path[4096];
    char win[GS_LOG_LINE_MAX];      /* the read window */
    char report[4096 + 64];         /* "path:line: bad log line skipped" */
    char level_buf[GS_MAX_VALUE], msg_buf[GS_MAX_VALUE];
#endif
} gs_log;

typedef struct {                    /* an open container of a deep request */
    const gs_field *f;              /* its field (NULL: the payload object) */
    uint32_t len_at;                /* a message's length, to fill in */
    uint8_t array;
} gs_jl_frame;

typedef struct {                    /* the JSON-lines front end */
    int initialised;
    size_t head_len;
    char head[6 * GS_MAX_ID + 24];      /* {"src": <node id>, "dest":  (each reply's start) */
    uint64_t last_stream_id;
    char msg_id[20];                    /* the next reply's msg_id, in decimal */
    uint8_t msg_id_len;
    struct gs_jl_start {                   /* the last reply's start, to reuse */
        const char *body;               /* its type's text (0: none) */
        uint8_t dest_len, len;
        char dest[16];
        char text[112];                 /* {"src": .., "dest": .., "body": {"type": ".." */
    } start;
    gs_json scan;
#if GS_JSON_SHAPES > 0
    gs_json_shapes shapes;              /* the lines scan has learned */
#endif
    gs_json object_scan;                /* a value whole in memory: +json, a deep payload */
    gs_line line;
    uint8_t method_caps[GS_MAX_METHODS][GS_MAX_FIELDS];
    uint8_t measured[GS_MAX_METHODS];   /* replies without a static bound */
    uint8_t deep[GS_MAX_METHODS];       /* requests with lists or messages... */
    uint8_t deep_in[3];                 /* ...by container: keep payloads whole */
    uint8_t raw_on, raw_over, raw_container;
    size_t raw_len;
    char raw[GS_MAX_VALUE];             /* the payload's text, for a deep request */
    size_t pb_len;
    char deep_pb[GS_MAX_VALUE];         /* ...as protobuf */
    char deep_small[GS_JSON_SMALL];
    gs_jl_frame frames[GS_MAX_DEPTH];
    unsigned nframes;
    const gs_desc *deep_desc;
    const gs_field *pending;            /* the member being read */
    int deep_status;
    const char *deep_why;
    uint8_t deep_container;
    gs_capture caps[GS_MAX_CAPTURES];
    unsigned ncaps, nstring_caps;
    char cap_bufs[GS_MAX_STRING_CAPTURES][GS_MAX_VALUE];
    gs_json_key top_key, envelope_keys[3], body_keys[9];    /* what each object expects */
    gs_json_key payload_keys[3][GS_MAX_CAPTURES];   /* by container */
    uint8_t npayload_keys[3];
    int16_t buckets[GS_MAX_STREAMS];    /* live streams by id */
    size_t out_len;
    char out[GS_OUT_SIZE];
} gs_jl;

#if GS_MAX_CONNS > 0
typedef struct {                    /* what a request's header block said */
    uint8_t pseudo_done, bad, regular_seen;
    uint8_t method, scheme, path, authority, post;
    uint8_t content_type;           /* GRPC_CT_* */
    uint8_t te_trailers, encoding_bad, timeout_bad, has_timeout;
    uint64_t timeout_ms;
    int64_t content_length;
    uint8_t md_bad;                 /* 1: a -bin value is not base64; 2: over
                                       GS_METADATA */
    uint16_t md_len;
    size_t path_len;
    char path_buf[2 * GS_MAX_NAME + 2];     /* /service/method */
    char md[GS_METADATA];           /* custom metadata, as gs_metadata reads */
} gs_h2_req;

typedef struct {                    /* one HTTP/2 connection */
    uint8_t state;                  /* H2_FREE, H2_PREFACE, H2_OPEN, H2_CLOSING */
    uint8_t rd;                     /* the frame reader's state */
    uint8_t head_len, ctl_len;
    uint8_t head[9];                /* a frame header as it comes */
    uint8_t ctl[8];                 /* a small frame's fields as they come */
    uint8_t ftype, fflags, fpadded;
    uint8_t hb_end_stream;          /* the header block's HEADERS had END_STREAM */
    uint8_t got_settings;           /* the client's first SETTINGS came */
    uint8_t goaway;                 /* shutting down: no new streams
                                       (1: GOAWAY owed, 2: written) */
    uint32_t fsid, flen, fpos, fpad;    /* the frame being read */
    uint32_t preface;               /* preface bytes matched */
    uint32_t hb_sid;                /* the header block's stream (CONTINUATION) */
    uint32_t last_sid;              /* highest stream id the client opened */
    uint32_t peer_initial, peer_max_frame;
    int64_t send_window;            /* the peer's connection window */
    int64_t recv_window;            /* what the peer may still send */
    uint16_t live;                  /* its streams holding a slot */
    uint64_t frame_ms;              /* when its last frame came (or it opened) */
    uint64_t ping_ms;               /* when an idle check PING went; 0: none */
    uint64_t closing_ms;            /* when it began to close */
    uint32_t resets;                /* the client's RST_STREAM budget */
    uint64_t resets_ms;             /* when the budget was last refilled */
    uint32_t block_frames, block_bytes; /* the header block being read */
    uint32_t answered;              /* PING and SETTINGS answered while the
                                       output was never empty */
    gs_h2_req req;
    gs_hpack_dec hpack;
    size_t out_len;
    char out[GS_H2_OUT];
} gs_h2_conn;
#endif

struct gs_node {
    /* the call core */
    const gs_method *methods[GS_MAX_METHODS];
    unsigned nmethods;
    gs_stream streams[GS_MAX_STREAMS];
    gs_state_area stream_states[GS_MAX_STREAMS];
    int16_t free_head;
    gs_stream *unary_call;              /* the call whose unary() runs */
    int16_t urgent[GS_MAX_STREAMS];     /* turns owed before the next input */
    int16_t runq[GS_MAX_STREAMS];       /* streams taking turns */
    unsigned urgent_head, urgent_len, runq_head, runq_len;
    uint64_t now_ms;                    /* the caller's clock (gs_tick) */
    uint64_t next_serial;
    unsigned deadlines;                 /* live streams with a deadline */
    unsigned timers;                    /* and with a timer */
    void (*diag)(gs_node *, const char *);
    char why[GS_JSON_KEY_MAX + 64];     /* a built message text */
    char scratch[GS_MAX_VALUE + 64];
    /* the built-in services */
    gs_log log;
    /* the front ends */
    gs_jl jl;
#if GS_MAX_CONNS > 0
    gs_h2_conn conns[GS_MAX_CONNS];
    unsigned conns_used;                    /* slots opened so far: the rest
                                               are never touched (no memory) */
    size_t h2_pb_room[GS_MAX_METHODS];      /* worst framed reply, protobuf */
    size_t h2_json_room[GS_MAX_METHODS];    /* and +json */
    gs_hpack_enc hpack_enc;                 /* no table: never indexes */
    char h2_why[3 * GS_MAX_WHY];            /* a grpc-message, encoded */
    char h2_md_wire[GS_METADATA_OUT / 3 * 4 + 8];   /* a -bin value, in base64 */
    char h2_rx[GS_MAX_STREAMS][GS_H2_BUF];  /* by slot: request bytes held */
    char h2_tx[GS_MAX_STREAMS][GS_H2_TX];   /* by slot: response bytes staged */
    char h2_md_in[GS_MAX_STREAMS][GS_METADATA];     /* by slot: request and */
    char h2_md_out[GS_MAX_STREAMS][GS_METADATA_OUT]; /* response metadata */
#endif
};

#endif
