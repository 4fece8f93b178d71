/*
 * topology.c - the table of topologies (topology.h): one row per enum scenario_topology.
 *
 * Owns: the choice of a topology's operations, made once per worker at set-up.
 * May not touch: anything a topology or the runner core does with them.
 */
#include "load/topology.h"

static const struct topology_ops *const topologies[] = {
    [SCENARIO_EMBEDDED] = &topology_embedded,
    [SCENARIO_TARGET] = &topology_target,
    [SCENARIO_RELAY] = &topology_relay,
    [SCENARIO_SIP] = &topology_sip,
};

const struct topology_ops *topology_for_scenario(const struct scenario *sc)
{
    /* kind "sip" through a relay tracks delivery: a row of its own */
    if (sc->topology == SCENARIO_SIP && scenario_has_relay(sc))
        return &topology_sip_relay;
    return topology_for(sc->topology);
}

const struct topology_ops *topology_for(enum scenario_topology kind)
{
    if ((unsigned)kind >= sizeof(topologies) / sizeof(topologies[0]))
        return NULL;
    return topologies[kind];
}
