/* hello: the smallest dsmfs program. It maps the segment at 1 GiB, so a
 * pointer stored in it means the same thing on every node.
 *
 *   hello put SEGMENT TEXT   store TEXT, and a pointer to it, in the segment
 *   hello get SEGMENT        follow the pointer and print the text
 *
 * The text goes to the last page, the pointer to the first: in a two-node
 * cluster each starts out on a different node, so both migrate.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DSM_ADDR ((void *)0x40000000)

int main(int argc, char **argv) {
	if (argc < 3 || (strcmp(argv[1], "put") && strcmp(argv[1], "get"))) {
		fprintf(stderr, "usage: hello put SEGMENT TEXT | hello get SEGMENT\n");
		return 2;
	}
	int fd = open(argv[2], O_RDWR);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[2]);
		return 1;
	}
	char *base = mmap(DSM_ADDR, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (base == MAP_FAILED) {
		perror("mmap at 1 GiB");
		return 1;
	}
	char **head = (char **)base;
	if (!strcmp(argv[1], "put")) {
		if (argc < 4) {
			fprintf(stderr, "hello put needs TEXT\n");
			return 2;
		}
		char *text = base + st.st_size - 4096;
		snprintf(text, 4096, "%s", argv[3]);
		*head = text;
		printf("stored %zu bytes at %p, pointer at %p\n", strlen(text), (void *)text, (void *)head);
	} else {
		if (*head == NULL) {
			fprintf(stderr, "nothing stored yet\n");
			return 1;
		}
		printf("%p -> \"%s\"\n", (void *)*head, *head);
	}
	return 0;
}
