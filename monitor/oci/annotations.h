/* The org.denali.* annotations of a bundle: Denali's VM options, as fields of the create body. */
#ifndef DENALI_OCI_ANNOTATIONS_H
#define DENALI_OCI_ANNOTATIONS_H

#include <json-c/json.h>
#include <stddef.h>

#define ANNOTATION_PREFIX "org.denali."

/*
 * Adds to body (a create body, docs/API.md) the field each org.denali.* annotation stands for.
 * Other annotations are not Denali's and are left alone. -1 with one line in err for an unknown
 * org.denali.* key or a value of the wrong form.
 */
int annotations_to_create_body(json_object *annotations, json_object *body, char *err,
                               size_t errlen);

/* The keys annotations_to_create_body knows, one per line with what each sets, for --help. */
extern const char annotations_help[];

#endif
