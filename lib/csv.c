#include "csv.h"

#include <string.h>

void sx_csv_field(FILE *f, const char *s, int last)
{
	if (strpbrk(s, ",\"\r\n") != NULL) {
		putc('"', f);
		for (; *s; s++) {
			if (*s == '"')
				putc('"', f);
			putc(*s, f);
		}
		putc('"', f);
	} else {
		fputs(s, f);
	}
	putc(last ? '\n' : ',', f);
}
