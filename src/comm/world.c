#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "comm/world.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "comm/transport.h"

#define HOST_LEN 64 /* host names are cut here: enough to find a node in a message */

/* The process-wide MPI context (allowed global state). Without rv_world_init (unit tests)
 * the world is one rank without transport and the collectives are local. */
static struct {
    rv_comm world;
    int mpi;
    double timeout_s;
    char (*hosts)[HOST_LEN]; /* [world size] */
} g_world = {{0, 1, NULL}, 0, RV_COMM_TIMEOUT_DEFAULT_S, NULL};

int rv_world_init(int *argc, char ***argv) {
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return -1;
    g_world.mpi = 1;
    rv_comm_wrap(MPI_COMM_WORLD, "world", &g_world.world);
    char mine[HOST_LEN] = {0}, name[MPI_MAX_PROCESSOR_NAME + 1] = {0};
    int len = 0;
    if (MPI_Get_processor_name(name, &len) == MPI_SUCCESS) memcpy(mine, name, strnlen(name, HOST_LEN - 1));
    g_world.hosts = rv_xcalloc((size_t)g_world.world.size, sizeof *g_world.hosts);
    rv_comm_check(&g_world.world,
                  MPI_Allgather(mine, HOST_LEN, MPI_CHAR, g_world.hosts, HOST_LEN, MPI_CHAR, g_world.world.impl->mpi),
                  "rv_world_init (MPI_Allgather of the host names)");
    return 0;
}

void rv_world_finalize(void) {
    if (!g_world.mpi) return;
    rv_comm_free(&g_world.world);
    g_world.world = (rv_comm){0, 1, NULL};
    free(g_world.hosts);
    g_world.hosts = NULL;
    MPI_Finalize();
    g_world.mpi = 0;
}

const rv_comm *rv_comm_world(void) { return &g_world.world; }

void rv_comm_set_timeout(double seconds) { g_world.timeout_s = seconds > 0 ? seconds : 0; }

double rv_comm_timeout(void) { return g_world.timeout_s; }

const char *rv_world_host(int world_rank) {
    if (!g_world.hosts || world_rank < 0 || world_rank >= g_world.world.size) return "?";
    return g_world.hosts[world_rank][0] ? g_world.hosts[world_rank] : "?";
}
