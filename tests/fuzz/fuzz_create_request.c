/* libFuzzer target: create_request_parse over arbitrary bytes must never crash, leak or read out
 * of bounds, and must always either fill the request or explain in err why not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/create_request.h"
#include "util/vm_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so the sanitizer catches any read past the body's end. */
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    struct create_request request;
    char err[256] = "";
    if (create_request_parse(body, size, &request, err, sizeof(err)) == 0) {
        if (request.count < 1 || request.count > CREATE_REQUEST_MAX_COUNT ||
            (!request.image && !request.restore) || (request.name && !vm_name_valid(request.name)))
            abort();
        create_request_free(&request);
    } else if (err[0] == '\0') {
        abort();
    }
    free(body);
    return 0;
}
