/* Single-threaded HTTP/1.1 server on a poll loop: a VM's name page, generated /doc/SIZE
 * documents (optionally read out of a working set of its own memory, -w) and static files from a
 * directory of its disk (-r). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_common.h"

#ifdef DENALI_GUEST
#include <ilwaco.h>
#define DEFAULT_PORT      80
#define DEFAULT_MAX_CONNS 128 /* about 8.5 KiB each */
#define SEND_FLAGS        0   /* no signals in ilwaco, so no SIGPIPE to suppress */
#else
#define DEFAULT_PORT      8080
#define DEFAULT_MAX_CONNS 1024
#define SEND_FLAGS        MSG_NOSIGNAL
#endif

/* The whole request head (request line and headers) must fit in this. */
#define IN_BUF_SIZE 8192
/* Request bodies (which we never use) up to this are skipped; larger ones get 413. */
#define MAX_DISCARDED_BODY (64u * 1024)
#define MAX_DOC_SIZE       (64ull * 1024 * 1024)
#define HEAD_BUF_SIZE      320
#define DEFAULT_IDLE_S     30
#define DEFAULT_ROOT       "/www"
/* Longest static file path: the root, the request's path and "/index.html". */
#define FILE_PATH_MAX 1024
#define MIN_CONNS     4
/* After our last response on a closing connection, how long we drain what the client still sends.
 */
#define LINGER_NS    (2 * NS_PER_S)
#define ACCEPT_BURST 64

/* Documents repeat a 64-byte line, so any offset maps into one chunk-sized buffer. */
#define PATTERN_PERIOD 64
#define DOC_CHUNK      (32 * 1024)
#define SCRATCH_SIZE   (16 * 1024)

/* -w: the working set's bounds, and the piece of it every request reads at least. */
#define MAX_WORKING_SET_MIB 1024
#define WS_PAGE             4096

enum method { METHOD_GET, METHOD_HEAD, METHOD_OTHER };

/* What the parser learned about one request head. */
struct request {
    size_t head_len;  /* bytes of the buffer the head used, blank line included */
    int error_status; /* 0 when well formed, else the 4xx/5xx to answer */
    enum method method;
    bool http10;
    bool conn_close;
    bool conn_keep_alive;
    bool has_content_length;
    bool has_transfer_encoding;
    unsigned host_headers;
    uint64_t content_length;
    const char *target;
    size_t target_len;
};

enum body_kind { BODY_NONE, BODY_STATIC, BODY_DOC, BODY_WORKING_SET, BODY_FILE };

struct response {
    char head[HEAD_BUF_SIZE];
    size_t head_len;
    size_t head_sent;
    enum body_kind body_kind;
    const char *body_static;
    uint64_t body_len;
    uint64_t body_sent;
    uint64_t body_start; /* BODY_WORKING_SET: where in the working set the body begins */
    int file_fd;         /* BODY_FILE: the open file, read as it is sent; -1 otherwise */
    bool close_after;
};

enum conn_state { CONN_OPEN, CONN_LINGER };

struct conn {
    int fd;
    enum conn_state state;
    uint64_t last_active_ns;
    bool peer_eof;
    bool responding;
    bool closing; /* the response in flight is the last one */
    uint64_t discard_left;
    size_t in_off;
    size_t in_len;
    struct response resp;
    char in[IN_BUF_SIZE];
};

struct server {
    int listen_fd;
    struct conn *conns;
    size_t conn_count;
    size_t conn_cap;
    struct pollfd *pollfds;
    uint64_t idle_timeout_ns;
    bool quiet;
    char root_page[256];
    size_t root_page_len;
    const char *file_root; /* static files are served from this directory */
};

static char doc_pattern[DOC_CHUNK + PATTERN_PERIOD];
static char scratch[SCRATCH_SIZE];

/*
 * -w: W MiB of the server's own memory, filled at start with the documents'
 * pattern. A document's body is then copied out of it from a page chosen
 * per request, so responses are byte for byte those without -w while the
 * requests spread uniformly over the whole working set, as a server's
 * reads of its data would: what the VM keeps touching is W MiB.
 */
static struct {
    char *base;
    uint64_t size;              /* a multiple of WS_PAGE and of PATTERN_PERIOD */
    uint64_t next;              /* requests served from it so far: the position's seed */
    uint64_t seed;              /* the VM's id, so VMs do not walk their pages in step */
    volatile uint64_t checksum; /* of the pages read whole, so the reads cannot be left out */
} working_set;

static void fill_doc_pattern(void)
{
    static const char line[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+";
    _Static_assert(sizeof line == PATTERN_PERIOD, "one pattern line plus its newline");
    for (size_t i = 0; i < sizeof doc_pattern; i++) {
        size_t col = i % PATTERN_PERIOD;
        doc_pattern[i] = col == PATTERN_PERIOD - 1 ? '\n' : line[col];
    }
}

/* Allocates the -w working set of mib MiB and fills it with the documents' pattern. */
static int working_set_init(uint64_t mib)
{
    uint64_t size = mib << 20;
    /* Page-aligned, so the page a request reads is one page of the VM's memory, not parts of two.
     */
    working_set.base = aligned_alloc(WS_PAGE, (size_t)size);
    if (working_set.base == NULL) {
        fprintf(stderr,
                "httpd: cannot allocate a working set of %llu MiB (is the VM's memory big "
                "enough?)\n",
                (unsigned long long)mib);
        return -1;
    }
    for (uint64_t off = 0; off < size; off += DOC_CHUNK)
        memcpy(working_set.base + off, doc_pattern,
               (size_t)(size - off < DOC_CHUNK ? size - off : DOC_CHUNK));
    working_set.size = size;
    return 0;
}

/* A well-mixed 64-bit value from x (splitmix64's finaliser). */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/*
 * Chooses where the next body starts: a page of the working set drawn
 * uniformly by hashing a request counter, read whole now (the least piece a
 * request reads; a longer body reads on through the following pages as it
 * is sent, wrapping at the end).
 */
static uint64_t working_set_pick(void)
{
    uint64_t pages = working_set.size / WS_PAGE;
    uint64_t start = mix64(working_set.seed + working_set.next++) % pages * WS_PAGE;
    const uint64_t *page = (const uint64_t *)(working_set.base + start);
    uint64_t sum = 0;
    for (size_t i = 0; i < WS_PAGE / sizeof *page; i++)
        sum += page[i];
    working_set.checksum += sum;
    return start;
}

/* Copies n bytes of the working set from pos (taken modulo its size) to dst, wrapping at its end.
 */
static void working_set_copy(char *dst, uint64_t pos, size_t n)
{
    while (n > 0) {
        uint64_t at = pos % working_set.size;
        size_t part = working_set.size - at < n ? (size_t)(working_set.size - at) : n;
        memcpy(dst, working_set.base + at, part);
        dst += part;
        pos += part;
        n -= part;
    }
}

/* ---- Parsing ---- */

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool ascii_equal_nocase(const char *a, size_t a_len, const char *lower)
{
    size_t n = strlen(lower);
    if (a_len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower[i])
            return false;
    }
    return true;
}

static void trim_ows(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

/*
 * Finds the blank line ending the head in buf[0, len). Returns the bytes up
 * to and including it, or 0 if it has not arrived yet.
 */
static size_t find_head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Parses "METHOD SP TARGET SP HTTP/1.x"; returns 0, or the status to answer. */
static int parse_request_line(const char *line, size_t len, struct request *req)
{
    const char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || sp1 == line)
        return 400;
    size_t method_len = (size_t)(sp1 - line);
    for (size_t i = 0; i < method_len; i++)
        if (!is_tchar((unsigned char)line[i]))
            return 400;
    const char *target = sp1 + 1;
    const char *end = line + len;
    const char *sp2 = memchr(target, ' ', (size_t)(end - target));
    if (sp2 == NULL || sp2 == target)
        return 400;
    for (const char *p = target; p < sp2; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 400;
    const char *version = sp2 + 1;
    size_t version_len = (size_t)(end - version);
    if (version_len != 8 || memcmp(version, "HTTP/", 5) != 0 || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
        return 400;
    if (version[5] != '1')
        return 505;

    req->http10 = version[7] == '0';
    if (method_len == 3 && memcmp(line, "GET", 3) == 0)
        req->method = METHOD_GET;
    else if (method_len == 4 && memcmp(line, "HEAD", 4) == 0)
        req->method = METHOD_HEAD;
    else
        req->method = METHOD_OTHER;
    req->target = target;
    req->target_len = (size_t)(sp2 - target);
    return 0;
}

/* Reads the comma-separated Connection options we act on. */
static void parse_connection_header(const char *value, size_t len, struct request *req)
{
    while (len > 0) {
        const char *comma = memchr(value, ',', len);
        size_t item_len = comma != NULL ? (size_t)(comma - value) : len;
        const char *item = value;
        size_t trimmed = item_len;
        trim_ows(&item, &trimmed);
        if (ascii_equal_nocase(item, trimmed, "close"))
            req->conn_close = true;
        else if (ascii_equal_nocase(item, trimmed, "keep-alive"))
            req->conn_keep_alive = true;
        if (comma == NULL)
            break;
        value += item_len + 1;
        len -= item_len + 1;
    }
}

/* Parses a Content-Length value; returns 0, or 400 for a malformed or conflicting one. */
static int parse_content_length(const char *value, size_t len, struct request *req)
{
    if (len == 0 || len > 19)
        return 400;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return 400;
        n = n * 10 + (uint64_t)(value[i] - '0');
    }
    if (req->has_content_length && req->content_length != n)
        return 400;
    req->has_content_length = true;
    req->content_length = n;
    return 0;
}

/* Parses one "Name: value" line; returns 0, or the status to answer. */
static int parse_header_line(const char *line, size_t len, struct request *req)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL || colon == line)
        return 400; /* also rejects obsolete line folding, which starts with a space */
    size_t name_len = (size_t)(colon - line);
    for (size_t i = 0; i < name_len; i++)
        if (!is_tchar((unsigned char)line[i]))
            return 400;
    const char *value = colon + 1;
    size_t value_len = len - name_len - 1;
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 400;
    }
    trim_ows(&value, &value_len);

    if (ascii_equal_nocase(line, name_len, "connection"))
        parse_connection_header(value, value_len, req);
    else if (ascii_equal_nocase(line, name_len, "content-length"))
        return parse_content_length(value, value_len, req);
    else if (ascii_equal_nocase(line, name_len, "transfer-encoding"))
        req->has_transfer_encoding = true;
    else if (ascii_equal_nocase(line, name_len, "host"))
        req->host_headers++;
    return 0;
}

/* Parses a complete head of head_len bytes (see find_head_end); sets req->error_status. */
static void parse_head(const char *buf, size_t head_len, struct request *req)
{
    memset(req, 0, sizeof *req);
    req->head_len = head_len;
    const char *p = buf;
    const char *end = buf + head_len;
    bool first = true;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            break; /* cannot happen: the head ends with a newline */
        size_t len = (size_t)(nl - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (len == 0)
            break; /* the blank line */
        if (memchr(p, '\r', len) != NULL || memchr(p, '\0', len) != NULL) {
            req->error_status = 400;
            return;
        }
        int status = first ? parse_request_line(p, len, req) : parse_header_line(p, len, req);
        if (status != 0) {
            req->error_status = status;
            return;
        }
        first = false;
        p = nl + 1;
    }
    if (!req->http10 && req->host_headers != 1)
        req->error_status = 400;
    else if (req->host_headers > 1)
        req->error_status = 400;
    else if (req->has_transfer_encoding)
        req->error_status = 501; /* we read no chunked bodies */
    else if (req->content_length > MAX_DISCARDED_BODY)
        req->error_status = 413;
}

/* ---- Responses ---- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

static const char *error_body(int status)
{
    switch (status) {
    case 400:
        return "400 Bad Request\n";
    case 404:
        return "404 Not Found\n";
    case 405:
        return "405 Method Not Allowed\n";
    case 413:
        return "413 Content Too Large\n";
    case 414:
        return "414 URI Too Long\n";
    case 431:
        return "431 Request Header Fields Too Large\n";
    case 501:
        return "501 Not Implemented\n";
    case 505:
        return "505 HTTP Version Not Supported\n";
    default:
        return "error\n";
    }
}

/* Queues a response head and body on c; send_body is false for HEAD. */
static void queue_response(struct conn *c, int status, const char *content_type,
                           enum body_kind kind, const char *body, uint64_t body_len, bool send_body)
{
    struct response *r = &c->resp;
    int n =
        snprintf(r->head, sizeof r->head,
                 "HTTP/1.1 %d %s\r\nServer: ilwaco-httpd\r\nContent-Type: %s\r\n"
                 "Content-Length: %llu\r\n%sConnection: %s\r\n\r\n",
                 status, reason_phrase(status), content_type, (unsigned long long)body_len,
                 status == 405 ? "Allow: GET, HEAD\r\n" : "", c->closing ? "close" : "keep-alive");
    /* The format's fixed parts and bounded fields always fit; this only guards edits. */
    r->head_len = n > 0 && (size_t)n < sizeof r->head ? (size_t)n : 0;
    r->head_sent = 0;
    r->body_kind = send_body ? kind : BODY_NONE;
    r->body_static = body;
    r->body_len = send_body ? body_len : 0;
    r->body_sent = 0;
    r->body_start = r->body_kind == BODY_WORKING_SET ? working_set_pick() : 0;
    r->file_fd = -1;
    c->responding = true;
}

/* Closes the file a response was sending from, if any. */
static void release_body_file(struct response *r)
{
    if (r->file_fd >= 0)
        close(r->file_fd);
    r->file_fd = -1;
}

static void queue_error(struct conn *c, int status, bool send_body)
{
    const char *body = error_body(status);
    queue_response(c, status, "text/plain", BODY_STATIC, body, strlen(body), send_body);
}

/* Maps "/doc/SIZE" to SIZE; returns false for anything else, out-of-range sizes included. */
static bool parse_doc_path(const char *path, size_t len, uint64_t *size)
{
    static const char prefix[] = "/doc/";
    size_t prefix_len = sizeof prefix - 1;
    if (len <= prefix_len || len > prefix_len + 8 || memcmp(path, prefix, prefix_len) != 0)
        return false; /* 8 digits hold 64 MiB and cannot overflow */
    uint64_t n = 0;
    for (size_t i = prefix_len; i < len; i++) {
        if (path[i] < '0' || path[i] > '9')
            return false;
        n = n * 10 + (uint64_t)(path[i] - '0');
    }
    if (n > MAX_DOC_SIZE)
        return false;
    *size = n;
    return true;
}

/* The path part of a request target: absolute-form loses its scheme and host, all lose the query.
 */
static void target_path(const char *target, size_t len, const char **path, size_t *path_len)
{
    if (len >= 7 && ascii_equal_nocase(target, 7, "http://")) {
        const char *slash = memchr(target + 7, '/', len - 7);
        if (slash == NULL) {
            *path = "/";
            *path_len = 1;
            return;
        }
        len -= (size_t)(slash - target);
        target = slash;
    }
    const char *query = memchr(target, '?', len);
    *path = target;
    *path_len = query != NULL ? (size_t)(query - target) : len;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decodes a request path (%XX escapes) into out, checking it names nothing
 * outside the root: no ".." segment, no NUL. Returns 0, or the status to answer.
 */
static int decode_file_path(const char *path, size_t len, char *out, size_t out_size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = path[i];
        if (ch == '%') {
            int hi = i + 2 < len ? hex_digit(path[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit(path[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return 400;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (ch == '\0')
            return 400;
        if (n + 1 >= out_size)
            return 414;
        out[n++] = ch;
    }
    out[n] = '\0';
    /* Decoded first, so that %2e%2e is caught too. */
    for (const char *seg = out; *seg != '\0';) {
        const char *end = strchr(seg, '/');
        size_t seg_len = end != NULL ? (size_t)(end - seg) : strlen(seg);
        if (seg_len == 2 && seg[0] == '.' && seg[1] == '.')
            return 403;
        seg += seg_len;
        if (*seg == '/')
            seg++;
    }
    return 0;
}

static const char *content_type_of(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html"}, {".htm", "text/html"},      {".txt", "text/plain"},
        {".css", "text/css"},   {".js", "text/javascript"}, {".json", "application/json"},
        {".png", "image/png"},  {".jpg", "image/jpeg"},     {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},  {".svg", "image/svg+xml"},
    };
    const char *dot = strrchr(path, '.');
    if (dot != NULL && strchr(dot, '/') == NULL)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* Opens full_path as a regular file, or its index.html when it is a directory; -1 if neither. */
static int open_static(char *full_path, size_t size, uint64_t *file_size)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(full_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            *file_size = (uint64_t)st.st_size;
            return fd;
        }
        bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
        close(fd);
        size_t len = strlen(full_path);
        const char *index = len > 0 && full_path[len - 1] == '/' ? "index.html" : "/index.html";
        if (!dir || attempt > 0 || len + strlen(index) + 1 > size)
            return -1;
        strcat(full_path, index);
    }
    return -1;
}

/*
 * Queues a static file under the root for path, or the error for it; false
 * when there is no such file (the caller decides what a missing one means).
 */
static bool queue_static_file(struct server *s, struct conn *c, const char *path, size_t len,
                              bool send_body)
{
    if (len == 0 || path[0] != '/')
        return false;
    char decoded[FILE_PATH_MAX];
    int status = decode_file_path(path, len, decoded, sizeof decoded);
    if (status != 0) {
        queue_error(c, status, send_body);
        return true;
    }
    char full_path[FILE_PATH_MAX + 64];
    int n = snprintf(full_path, sizeof full_path - 16, "%s%s", s->file_root, decoded);
    if (n < 0 || (size_t)n >= sizeof full_path - 16) {
        queue_error(c, 414, send_body);
        return true;
    }
    uint64_t size;
    int fd = open_static(full_path, sizeof full_path, &size);
    if (fd < 0)
        return false;
    queue_response(c, 200, content_type_of(full_path), BODY_FILE, NULL, size, send_body);
    if (c->resp.body_kind == BODY_FILE)
        c->resp.file_fd = fd;
    else
        close(fd); /* HEAD: the length was all we needed */
    return true;
}

static void queue_route(struct server *s, struct conn *c, const struct request *req)
{
    bool send_body = req->method != METHOD_HEAD;
    if (req->method == METHOD_OTHER) {
        queue_error(c, 405, true);
        return;
    }
    const char *path;
    size_t path_len;
    uint64_t doc_size;
    target_path(req->target, req->target_len, &path, &path_len);
    if (parse_doc_path(path, path_len, &doc_size))
        queue_response(c, 200, "text/plain", working_set.base != NULL ? BODY_WORKING_SET : BODY_DOC,
                       NULL, doc_size, send_body);
    else if (queue_static_file(s, c, path, path_len, send_body))
        return;
    else if (path_len == 1 && path[0] == '/')
        /* Without a root index.html, / is the page naming the VM. */
        queue_response(c, 200, "text/html", BODY_STATIC, s->root_page, s->root_page_len, send_body);
    else
        queue_error(c, 404, send_body);
}

/* Decides how to answer the head just parsed and queues it. */
static void start_response(struct server *s, struct conn *c, const struct request *req)
{
    if (req->error_status != 0) {
        c->closing = true; /* after a malformed head we cannot find the next one */
        queue_error(c, req->error_status, req->method != METHOD_HEAD);
        return;
    }
    bool keep_alive = req->http10 ? req->conn_keep_alive && !req->conn_close : !req->conn_close;
    c->closing = !keep_alive;
    c->discard_left = req->content_length;
    queue_route(s, c, req);
}

/* ---- Connections ---- */

static void close_conn(struct server *s, size_t i)
{
    release_body_file(&s->conns[i].resp);
    close(s->conns[i].fd);
    s->conn_count--;
    if (i != s->conn_count)
        memcpy(&s->conns[i], &s->conns[s->conn_count], sizeof s->conns[i]);
}

/*
 * Starts closing connection i after its last response: half-close and drain
 * what the client still sends, so that unread input does not make our
 * kernel reset the connection and destroy the response in flight.
 */
static void begin_close(struct server *s, size_t i, uint64_t now)
{
    struct conn *c = &s->conns[i];
    if (c->peer_eof || shutdown(c->fd, SHUT_WR) < 0) {
        close_conn(s, i);
        return;
    }
    c->state = CONN_LINGER;
    c->last_active_ns = now;
}

/* Reads up to n bytes of a BODY_FILE body at its offset at into dst; the count, 0 on failure. */
static size_t read_body_file(const struct response *r, char *dst, uint64_t at, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(r->file_fd, dst + got, n - got, (off_t)(at + got));
        if (k <= 0)
            return 0; /* the file shrank or failed under us: the body can no longer be whole */
        got += (size_t)k;
    }
    return got;
}

/* Chooses what to send next: head first, then body. Returns bytes at *data (0: the body failed). */
static size_t next_send_chunk(const struct response *r, const char **data)
{
    if (r->head_sent < r->head_len) {
        size_t head_left = r->head_len - r->head_sent;
        memcpy(scratch, r->head + r->head_sent, head_left);
        size_t room = sizeof scratch - head_left;
        uint64_t body_left = r->body_len - r->body_sent;
        size_t body_part = body_left < room ? (size_t)body_left : room;
        /* Small bodies ride in the same segment as the head. */
        if (r->body_kind == BODY_STATIC)
            memcpy(scratch + head_left, r->body_static + r->body_sent, body_part);
        else if (r->body_kind == BODY_DOC)
            memcpy(scratch + head_left, doc_pattern + r->body_sent % PATTERN_PERIOD, body_part);
        else if (r->body_kind == BODY_WORKING_SET)
            working_set_copy(scratch + head_left, r->body_start + r->body_sent, body_part);
        else if (r->body_kind == BODY_FILE && body_part > 0 &&
                 read_body_file(r, scratch + head_left, r->body_sent, body_part) == 0)
            return 0;
        else if (r->body_kind != BODY_FILE)
            body_part = 0;
        *data = scratch;
        return head_left + body_part;
    }
    uint64_t body_left = r->body_len - r->body_sent;
    if (r->body_kind == BODY_FILE) {
        size_t part = body_left < sizeof scratch ? (size_t)body_left : sizeof scratch;
        *data = scratch;
        return read_body_file(r, scratch, r->body_sent, part);
    }
    if (r->body_kind == BODY_STATIC) {
        *data = r->body_static + r->body_sent;
        return (size_t)body_left;
    }
    if (r->body_kind == BODY_WORKING_SET) {
        uint64_t at = (r->body_start + r->body_sent) % working_set.size;
        uint64_t run = working_set.size - at;
        if (run > DOC_CHUNK)
            run = DOC_CHUNK;
        *data = working_set.base + at;
        return body_left < run ? (size_t)body_left : (size_t)run;
    }
    *data = doc_pattern + r->body_sent % PATTERN_PERIOD;
    return body_left < DOC_CHUNK ? (size_t)body_left : DOC_CHUNK;
}

/* Records n bytes sent, head bytes first. */
static void account_sent(struct response *r, size_t n)
{
    size_t head_left = r->head_len - r->head_sent;
    size_t head_part = n < head_left ? n : head_left;
    r->head_sent += head_part;
    r->body_sent += n - head_part;
}

static bool response_done(const struct response *r)
{
    return r->head_sent == r->head_len &&
           (r->body_kind == BODY_NONE || r->body_sent == r->body_len);
}

/* Sends as much of the response as the socket takes; returns -1 if the connection failed. */
static int send_response(struct conn *c, uint64_t now)
{
    struct response *r = &c->resp;
    while (!response_done(r)) {
        const char *data;
        size_t len = next_send_chunk(r, &data);
        if (len == 0)
            return -1;
        ssize_t n = send(c->fd, data, len, SEND_FLAGS);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        account_sent(r, (size_t)n);
        c->last_active_ns = now;
    }
    release_body_file(r);
    c->responding = false;
    return 0;
}

/* Drops buffered input already consumed: request bodies we skip, then the head just parsed. */
static void consume_input(struct conn *c, size_t n)
{
    c->in_off += n;
    c->in_len -= n;
    if (c->in_len == 0)
        c->in_off = 0;
}

/* Parses the next buffered request, if whole, and queues its response; returns whether it did. */
static bool take_next_request(struct server *s, struct conn *c)
{
    if (c->discard_left > 0) {
        size_t take = c->in_len < c->discard_left ? c->in_len : (size_t)c->discard_left;
        consume_input(c, take);
        c->discard_left -= take;
        if (c->discard_left > 0)
            return false;
    }
    if (c->in_len == 0)
        return false;
    const char *buf = c->in + c->in_off;
    /* Empty lines before a request line are tolerated (RFC 9112, section 2.2). */
    size_t skip = 0;
    while (skip < c->in_len && (buf[skip] == '\r' || buf[skip] == '\n'))
        skip++;
    consume_input(c, skip);
    buf += skip;
    if (c->in_len == 0)
        return false;

    size_t head_len = find_head_end(buf, c->in_len);
    if (head_len == 0) {
        if (c->in_len < IN_BUF_SIZE) {
            if (c->in_off > 0) {
                memmove(c->in, buf, c->in_len); /* make room for the rest of the head */
                c->in_off = 0;
            }
            return false;
        }
        c->closing = true;
        queue_error(c, memchr(buf, '\n', c->in_len) == NULL ? 414 : 431, true);
        return true;
    }
    struct request req;
    parse_head(buf, head_len, &req);
    consume_input(c, head_len);
    start_response(s, c, &req);
    return true;
}

/*
 * Moves connection i forward: sends what it can, then answers pipelined
 * requests in order until one blocks. Returns false if it was closed.
 */
static bool advance_conn(struct server *s, size_t i, uint64_t now)
{
    struct conn *c = &s->conns[i];
    for (;;) {
        if (c->responding) {
            if (send_response(c, now) < 0) {
                close_conn(s, i);
                return false;
            }
            if (c->responding)
                return true;
            if (c->closing) {
                begin_close(s, i, now);
                return false;
            }
        }
        if (!take_next_request(s, c))
            break;
    }
    if (c->peer_eof) {
        close_conn(s, i); /* nothing more can arrive; a partial request is dropped */
        return false;
    }
    return true;
}

/* Reads what has arrived into c's buffer; returns -1 if the connection failed. */
static int read_input(struct conn *c, uint64_t now)
{
    if (c->in_off > 0 && c->in_len > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len);
        c->in_off = 0;
    }
    while (c->in_len < IN_BUF_SIZE) {
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_BUF_SIZE - c->in_len, 0);
        if (n == 0) {
            c->peer_eof = true;
            return 0;
        }
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->in_len += (size_t)n;
        c->last_active_ns = now;
    }
    return 0;
}

/* Drains a lingering connection; returns true when it is time to close it. */
static bool drain_linger(struct conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
        if (n == 0)
            return true;
        if (n < 0)
            return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
}

static void service_conn(struct server *s, size_t i, short revents, uint64_t now)
{
    struct conn *c = &s->conns[i];
    if (c->state == CONN_LINGER) {
        if (drain_linger(c))
            close_conn(s, i);
        return;
    }
    if (revents & POLLERR) {
        close_conn(s, i);
        return;
    }
    if ((revents & (POLLIN | POLLHUP)) && read_input(c, now) < 0) {
        close_conn(s, i);
        return;
    }
    (void)advance_conn(s, i, now);
}

static bool conn_is_idle(const struct conn *c)
{
    return c->state == CONN_LINGER || (!c->responding && c->in_len == 0 && c->discard_left == 0);
}

/* Makes room for one more connection by closing the longest-idle one; false if none is idle. */
static bool evict_oldest_idle(struct server *s)
{
    size_t victim = s->conn_count;
    for (size_t i = 0; i < s->conn_count; i++) {
        const struct conn *c = &s->conns[i];
        if (conn_is_idle(c) &&
            (victim == s->conn_count || c->last_active_ns < s->conns[victim].last_active_ns))
            victim = i;
    }
    if (victim == s->conn_count)
        return false;
    close_conn(s, victim);
    return true;
}

static void accept_conns(struct server *s, uint64_t now)
{
    for (int k = 0; k < ACCEPT_BURST; k++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN, or a connection that died before we took it */
        if (s->conn_count == s->conn_cap && !evict_oldest_idle(s)) {
            close(fd); /* every connection is busy: refuse this one */
            continue;
        }
        net_set_nodelay(fd);
        struct conn *c = &s->conns[s->conn_count++];
        memset(c, 0, offsetof(struct conn, resp));
        c->fd = fd;
        c->resp.file_fd = -1;
        c->state = CONN_OPEN;
        c->last_active_ns = now;
    }
}

/* When connection c is due to close: idle past the timeout, or lingering past its grace period. */
static uint64_t conn_expiry_ns(const struct server *s, const struct conn *c)
{
    return c->last_active_ns + (c->state == CONN_LINGER ? LINGER_NS : s->idle_timeout_ns);
}

/* Closes the connections whose time is up. */
static void expire_conns(struct server *s, uint64_t now)
{
    for (size_t i = s->conn_count; i-- > 0;)
        if (now >= conn_expiry_ns(s, &s->conns[i]))
            close_conn(s, i);
}

/*
 * poll's timeout: until the first connection is due to close, or none (-1)
 * when there is no connection. A server with nothing to do sets no timer,
 * so an idle VM sleeps until a frame wakes it (and, hibernated, costs
 * nothing until then).
 */
static int poll_timeout_ms(const struct server *s, uint64_t now)
{
    uint64_t first = UINT64_MAX;
    for (size_t i = 0; i < s->conn_count; i++) {
        uint64_t due = conn_expiry_ns(s, &s->conns[i]);
        if (due < first)
            first = due;
    }
    if (first == UINT64_MAX)
        return -1;
    if (first <= now)
        return 0;
    uint64_t ms = (first - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static short wanted_events(const struct conn *c)
{
    if (c->state == CONN_LINGER)
        return POLLIN;
    short events = 0;
    if (!c->peer_eof && !c->closing && c->in_len < IN_BUF_SIZE)
        events |= POLLIN;
    if (c->responding)
        events |= POLLOUT;
    return events;
}

static int run_server(struct server *s)
{
    for (;;) {
        struct pollfd *fds = s->pollfds;
        fds[0] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < s->conn_count; i++)
            fds[i + 1] =
                (struct pollfd){.fd = s->conns[i].fd, .events = wanted_events(&s->conns[i])};
        size_t polled = s->conn_count;
        if (poll(fds, (nfds_t)(polled + 1), poll_timeout_ms(s, net_now_ns())) < 0 &&
            errno != EINTR) {
            fprintf(stderr, "httpd: poll failed: %s\n", strerror(errno));
            return 1;
        }
        uint64_t now = net_now_ns();
        /* Walk down: closing i moves the last connection, already serviced, into slot i. */
        for (size_t i = polled; i-- > 0;)
            if (fds[i + 1].revents != 0)
                service_conn(s, i, fds[i + 1].revents, now);
        if (fds[0].revents & POLLIN)
            accept_conns(s, now);
        expire_conns(s, now);
    }
}

/* ---- Start-up ---- */

static void build_root_page(struct server *s)
{
    struct net_identity id = net_identity();
    char name[64];
    if (id.in_vm)
        snprintf(name, sizeof name, "Denali VM %u of %u", id.vm_id, id.vm_count);
    else
        snprintf(name, sizeof name, "native httpd");
    int n = snprintf(s->root_page, sizeof s->root_page,
                     "<!DOCTYPE html>\n<html><head><title>%s</title></head>\n"
                     "<body><h1>%s</h1><p>Served by ilwaco httpd.</p></body></html>\n",
                     name, name);
    s->root_page_len = n > 0 && (size_t)n < sizeof s->root_page ? (size_t)n : 0;
}

#ifdef DENALI_GUEST
/*
 * Weak, so the guest links (and -b says it is ignored) with an ilwaco that
 * does not define it yet; the signature matches ilwaco.h's.
 */
void ilwaco_net_busy_poll(int on) __attribute__((weak));
#endif

static void enable_busy_poll(bool quiet)
{
#ifdef DENALI_GUEST
    if (ilwaco_net_busy_poll != NULL)
        ilwaco_net_busy_poll(1);
    else if (!quiet)
        printf("httpd: -b ignored: this ilwaco has no ilwaco_net_busy_poll\n");
#else
    (void)quiet; /* natively the kernel's scheduler decides; nothing to do */
#endif
}

/*
 * Allocates the connection table. A -c limit is honoured or fatal; the
 * default shrinks to what a small VM's memory allows.
 */
static int allocate_conns(struct server *s, size_t want, bool exact)
{
    s->conn_cap = want;
    s->conns = net_calloc_shrinking(&s->conn_cap, exact ? want : MIN_CONNS, sizeof *s->conns);
    s->pollfds = s->conns != NULL ? calloc(s->conn_cap + 1, sizeof *s->pollfds) : NULL;
    if (s->pollfds == NULL) {
        fprintf(stderr, "httpd: out of memory for %zu connections\n",
                exact ? want : (size_t)MIN_CONNS);
        return -1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: httpd [-p PORT] [-b] [-q] [-x] [-c MAXCONNS] [-t IDLE_SECS] [-w MIB] [-r DIR]\n"
            "  -p PORT       port to listen on (default %d)\n"
            "  -b            busy-poll the network instead of idling (in a VM)\n"
            "  -q            quiet: no start line\n"
            "  -c MAXCONNS   open connections kept at most (default %d)\n"
            "  -t IDLE_SECS  close connections idle this long (default %d)\n"
            "  -x            exit as soon as it is ready to serve (for start-up benchmarks)\n"
            "  -w MIB        fill a working set of MIB MiB (1..%d) at start and copy every\n"
            "                /doc body out of it from a page drawn per request\n"
            "  -r DIR        serve static files from DIR (default %s; in a VM, on its disk)\n"
            "serves /doc/SIZE (SIZE bytes, 0..%llu), the files under DIR (a directory's\n"
            "index.html for the directory), and at / a page naming the VM when DIR has no\n"
            "index.html\n",
            DEFAULT_PORT, DEFAULT_MAX_CONNS, DEFAULT_IDLE_S, MAX_WORKING_SET_MIB, DEFAULT_ROOT,
            MAX_DOC_SIZE);
}

int main(int argc, char **argv)
{
    struct server s = {0};
    uint16_t port = DEFAULT_PORT;
    uint64_t max_conns = DEFAULT_MAX_CONNS, idle_s = DEFAULT_IDLE_S, working_set_mib = 0;
    bool busy_poll = false, explicit_cap = false, exit_when_ready = false;
    int opt;
    s.file_root = DEFAULT_ROOT;
    while ((opt = getopt(argc, argv, "p:bqc:t:hxw:r:")) != -1) {
        switch (opt) {
        case 'p':
            if (net_parse_port(optarg, &port) < 0) {
                fprintf(stderr, "httpd: bad port '%s' (1..65535)\n", optarg);
                return 2;
            }
            break;
        case 'b':
            busy_poll = true;
            break;
        case 'q':
            s.quiet = true;
            break;
        case 'c':
            if (net_parse_u64(optarg, 1, 100000, &max_conns) < 0) {
                fprintf(stderr, "httpd: bad connection limit '%s' (1..100000)\n", optarg);
                return 2;
            }
            explicit_cap = true;
            break;
        case 't':
            if (net_parse_u64(optarg, 1, 86400, &idle_s) < 0) {
                fprintf(stderr, "httpd: bad idle timeout '%s' (1..86400 s)\n", optarg);
                return 2;
            }
            break;
        case 'x':
            exit_when_ready = true;
            break;
        case 'w':
            if (net_parse_u64(optarg, 1, MAX_WORKING_SET_MIB, &working_set_mib) < 0) {
                fprintf(stderr, "httpd: bad working set '%s' (1..%d MiB)\n", optarg,
                        MAX_WORKING_SET_MIB);
                return 2;
            }
            break;
        case 'r':
            /* "/" would make every path start with "//"; a trailing slash is dropped likewise. */
            if (optarg[0] != '/' || strlen(optarg) >= FILE_PATH_MAX / 2) {
                fprintf(stderr, "httpd: bad root '%s' (an absolute path)\n", optarg);
                return 2;
            }
            s.file_root = optarg;
            while (strlen(optarg) > 1 && optarg[strlen(optarg) - 1] == '/')
                optarg[strlen(optarg) - 1] = '\0';
            if (strcmp(optarg, "/") == 0)
                s.file_root = "";
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (optind != argc) {
        usage();
        return 2;
    }

    s.idle_timeout_ns = idle_s * NS_PER_S;
    fill_doc_pattern();
    build_root_page(&s);
    /* Listen first: in a VM the first socket reserves the network stack's heap. */
    s.listen_fd = net_listen(port, 512);
    if (s.listen_fd < 0) {
        fprintf(stderr, "httpd: cannot listen on port %u: %s\n", (unsigned)port, strerror(errno));
        return 1;
    }
    if (allocate_conns(&s, (size_t)max_conns, explicit_cap) < 0)
        return 1;
    /* After the network's heap and the connections: what is left of the VM's memory is its data. */
    if (working_set_mib > 0 && working_set_init(working_set_mib) < 0)
        return 1;
#ifdef DENALI_GUEST
    /* Ready to serve: with --clone every VM starts here, so its name page is its own. */
    if (ilwaco_ready())
        build_root_page(&s);
#endif
    /* After the ready call, which gives a clone its own id. */
    working_set.seed = ((uint64_t)net_identity().vm_id + 1) * 0x9e3779b97f4a7c15ull;
    if (exit_when_ready)
        return 0;
    if (busy_poll)
        enable_busy_poll(s.quiet);
    if (!s.quiet)
        net_print_listening("httpd", port, "");
    return run_server(&s);
}
