/**
 * The autoscaler's decision for one container pool, as a pure function of the
 * pool's spec, what the router observes now, and the time. It owns the scaling
 * arithmetic only: it never reads the clock, starts or stops anything, or
 * keeps state between calls. The loop that calls it does all of that; the only
 * state scale-down needs (how long each container has been idle) arrives in
 * the observation as `idleSince`, so a timeline test replays exactly.
 */

/** Scaling options of one pool, resolved to numbers (from the function's options). */
export interface AutoscalerSpec {
  /** Live containers kept even with no traffic. Default 0. */
  minContainers: number;
  /** Upper bound on live containers. Default 100. Wins over demand, loses to `minContainers`. */
  maxContainers: number;
  /** Extra containers kept beyond demand while there is demand. Default 0. */
  bufferContainers: number;
  /** Milliseconds a ready container must have been idle before it may be retired. Default 60 000. */
  scaledownWindowMs: number;
  /** Inputs one container serves at once. Default 1. */
  maxInputs: number;
  /** Inputs per container the autoscaler aims for. Default (0) means `maxInputs`; capped at `maxInputs`. */
  targetInputs: number;
}

export type ContainerPhase = "starting" | "ready" | "draining";

export interface ContainerObservation {
  id: string;
  phase: ContainerPhase;
  /** Inputs the container is serving now. */
  inFlight: number;
  /** ms timestamp since which it has had no input, or null while busy */
  idleSince: number | null;
  /** ms timestamp at which the runtime was asked to start it. */
  startedAt: number;
}

export interface PoolObservation {
  /** Inputs waiting in the pool's queue for a free container. */
  queued: number;
  containers: ContainerObservation[];
}

export interface ScaleDecision {
  /** desired live containers (starting + ready) */
  desired: number;
  /** how many new containers to start now */
  start: number;
  /** ids of ready, idle containers to retire now */
  retire: string[];
}

/**
 * Inputs per container the pool aims for. A target above `maxInputs` would
 * leave inputs queued behind full containers while the autoscaler believes
 * there is room, so it is capped; 0 (or anything not a positive number) means
 * "same as maxInputs", and a broken spec with neither still divides by 1.
 */
export function effectiveTarget(spec: AutoscalerSpec): number {
  const max = spec.maxInputs > 0 ? spec.maxInputs : 1;
  const target = spec.targetInputs > 0 ? spec.targetInputs : max;
  return Math.min(target, max);
}

/**
 * Containers the pool should have live for `demand` inputs (in flight + queued).
 *
 * desired = clamp(ceil(demand / target) + buffer, min, max), where the buffer
 * only applies while there is demand: Modal keeps buffer containers "under
 * active load", and adding it at zero demand would make a pool with a buffer
 * unable to scale to zero. Worked through (pinned in test/autoscaler.test.ts):
 *   demand 100, target 1, max 10       → ceil(100/1) = 100, capped to 10
 *   demand 10, target 4, maxInputs 10  → ceil(10/4)  = 3
 *   demand 1, buffer 2                 → 1 + 2       = 3
 *   demand 0, buffer 2, min 0          → 0
 *   demand 0, min 2                    → 2
 * `minContainers` wins over `maxContainers` if a spec gets them crossed, so the
 * "min containers are always kept" promise holds even for a bad spec.
 */
export function desiredContainers(spec: AutoscalerSpec, demand: number): number {
  const needed = demand > 0 ? Math.ceil(demand / effectiveTarget(spec)) + Math.max(0, spec.bufferContainers) : 0;
  return Math.max(spec.minContainers, Math.min(spec.maxContainers, needed));
}

/** Demand and the live set, counted the same way by `decide` and `nextWakeup`. */
function tally(observation: PoolObservation): { demand: number; live: number } {
  // Draining containers are on their way out: their in-flight inputs finish
  // where they are, so they neither add demand nor count as capacity.
  let demand = Math.max(0, observation.queued);
  let live = 0;
  for (const c of observation.containers) {
    if (c.phase === "draining") continue;
    live += 1;
    demand += Math.max(0, c.inFlight);
  }
  return { demand, live };
}

function isRetirable(c: ContainerObservation): c is ContainerObservation & { idleSince: number } {
  return c.phase === "ready" && c.inFlight === 0 && c.idleSince !== null;
}

/**
 * One autoscaler step.
 *
 * Scale-up is immediate: starting containers count as live, so a burst of 100
 * queued inputs with maxInputs 1 and max 10 starts 10 at t=0, and the next
 * step (still 100 queued, 10 booting) starts 0 — no double start while
 * containers boot.
 *
 * Scale-down is lazy and per container: only when live > desired, and only
 * ready containers that have had no input for the whole window. With a 60 s
 * window, a container idle since t=10 000 is kept at t=69 999 and retired at
 * t=70 000 (test "decay to zero happens at the window"). Longest-idle go
 * first because they are the least likely to be the ones the router just
 * warmed; at most live - desired go, and desired ≥ minContainers, so min
 * containers stay.
 */
export function decide(spec: AutoscalerSpec, observation: PoolObservation, now: number): ScaleDecision {
  const { demand, live } = tally(observation);
  const desired = desiredContainers(spec, demand);
  const start = Math.max(0, desired - live);
  const excess = live - desired;
  if (excess <= 0) return { desired, start, retire: [] };

  const due = observation.containers
    .filter(isRetirable)
    .filter((c) => now - c.idleSince >= spec.scaledownWindowMs)
    // Oldest idleSince first; ties broken by id so a replayed timeline gives
    // the same answer.
    .sort((a, b) => a.idleSince - b.idleSince || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { desired, start, retire: due.slice(0, excess).map((c) => c.id) };
}

/**
 * The earliest time after `now` at which `decide` on this same observation
 * would retire a container it does not retire now, or null if none ever would.
 * The loop sleeps until then instead of polling; any change in the observation
 * (an input arrives or finishes, a container becomes ready or exits) wakes it
 * anyway, so null means "nothing to do until something happens".
 *
 * Example: window 60 000, min 0, two idle ready containers idle since 1 000 and
 * 5 000, no demand → at now=10 000 the answer is 61 000; at 61 000 `decide`
 * retires the first and nextWakeup says 65 000.
 */
export function nextWakeup(spec: AutoscalerSpec, observation: PoolObservation, now: number): number | null {
  const { live } = tally(observation);
  const decision = decide(spec, observation, now);
  // If this step's retirements already bring the pool down to desired, time
  // alone changes nothing more.
  if (live - decision.retire.length - decision.desired <= 0) return null;

  let earliest: number | null = null;
  for (const c of observation.containers) {
    if (!isRetirable(c)) continue;
    const dueAt = c.idleSince + spec.scaledownWindowMs;
    if (dueAt <= now) continue; // already due, so retired by this step's decide
    if (earliest === null || dueAt < earliest) earliest = dueAt;
  }
  return earliest;
}
