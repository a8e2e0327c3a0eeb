/* denali-oci's error reporting: stderr, and the --log file in runc's text or JSON format. */
#ifndef DENALI_OCI_LOG_H
#define DENALI_OCI_LOG_H

/* Sends later messages to path too (NULL: stderr only). -1 when format is not text or json. */
int oci_log_setup(const char *path, const char *format);

/* One error line. Returns 1, the exit status of a command that failed. */
int oci_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* One warning line: something went wrong that does not make the command fail. */
void oci_warn(const char *format, ...) __attribute__((format(printf, 1, 2)));

#endif
