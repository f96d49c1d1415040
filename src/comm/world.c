#include "comm/world.h"

#include <mpi.h>

#include "comm/transport.h"
#include "comm/wait.h"

/* The process-wide MPI context (allowed global state): the world communicator here, the
 * waits' watch (timeout, host names) in comm/wait.c. Without rv_world_init (unit tests) the world
 * is one rank without transport and the collectives are local. */
static struct {
    rv_comm world;
    int mpi;
} g_world = {{0, 1, NULL}, 0};

int rv_world_init(int *argc, char ***argv) {
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return -1;
    g_world.mpi = 1;
    rv_comm_wrap(MPI_COMM_WORLD, "world", &g_world.world);
    rv_comm_watch_start(g_world.world.impl->mpi);
    return 0;
}

void rv_world_finalize(void) {
    if (!g_world.mpi) return;
    rv_comm_watch_stop();
    rv_comm_free(&g_world.world);
    g_world.world = (rv_comm){0, 1, NULL};
    MPI_Finalize();
    g_world.mpi = 0;
}

const rv_comm *rv_comm_world(void) { return &g_world.world; }
