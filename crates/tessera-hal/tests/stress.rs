//! Random submissions with random wait and signal lists over several queues, checked against
//! an independent model of the wait-for rules: every refused submission really closed a cycle,
//! every accepted one could make progress, no signal is lost, and no host wait hangs.
//!
//! Along the way, points are exported as file descriptors (eventfds) and some are imported
//! back into host-signalled timelines, as another process or device would: each descriptor
//! must end up telling the same outcome as its timeline, and once everything is dropped the
//! process holds exactly the descriptors it held before (`/proc/self/fd`).
//!
//! The seed is fixed; set `TESSERA_STRESS_SEED` to try another one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_hal::wait_graph::{self, BlockedOn, DeadlockReport, PointInfo};
use tessera_hal::{Buffer, HalError, HostBuffer, HostQueue, InOrderQueue, Queue, Timeline, Work};
#[cfg(target_os = "linux")]
use tessera_hal::{PointState, TimelinePointFd};

const TIMELINES: usize = 6;
const MAX_SUBMISSIONS: usize = 20_000;
const SUBMIT_BUDGET: Duration = Duration::from_secs(8);
const LONG: Duration = Duration::from_secs(20);

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// A timeline of the model: one of the test's timelines, or the order timeline of one
/// in-order wrapper (both indices into the world's lists).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Tl {
    Real(usize),
    Order(usize),
}

type Point = (Tl, u64);

#[derive(Debug)]
struct Rec {
    queue: usize,
    waits: Vec<Point>,
    signals: Vec<Point>,
}

struct StressQueue {
    name: String,
    host: Arc<dyn Queue>,
    /// The current in-order wrapper (an index into `World::orders`), for in-order queues.
    order: Option<usize>,
    buffer: Arc<dyn Buffer>,
}

struct World {
    /// Every test timeline made so far; stuck ones are replaced, not removed.
    timelines: Vec<Arc<Timeline>>,
    queues: Vec<StressQueue>,
    /// Every in-order wrapper made so far and the number of submissions it accepted.
    orders: Vec<(Arc<InOrderQueue>, u64)>,
}

impl World {
    fn timeline(&self, tl: Tl) -> Arc<Timeline> {
        match tl {
            Tl::Real(i) => self.timelines[i].clone(),
            Tl::Order(w) => self.orders[w].0.order_point().0,
        }
    }
    fn label(&self, tl: Tl) -> String {
        self.timeline(tl).label().to_string()
    }
    fn reached(&self, (tl, v): Point) -> bool {
        self.timeline(tl).value() >= v
    }
    fn info(&self, (tl, v): Point) -> PointInfo {
        PointInfo {
            timeline: self.label(tl),
            value: v,
        }
    }
}

/// What a generated submission is for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Random,
    /// Waits on the next, not yet submitted value of this timeline.
    Consumer(usize),
    /// The producer of the consumer's point, free of cycles.
    Producer,
    /// A producer of the consumer's point that closes a cycle with it.
    BadProducer,
}

/// The model's liveness, as a plain fixpoint over rounds: a submission is live when each wait
/// is reached, or (when `open` holds) signalled by nobody else, or signalled at that value or
/// above by another live submission.
fn model_live(world: &World, subs: &[&Rec], open: bool) -> Vec<bool> {
    let mut live = vec![false; subs.len()];
    let signallers = |p: Point, me: usize| -> Vec<usize> {
        (0..subs.len())
            .filter(|&j| j != me && subs[j].signals.iter().any(|s| s.0 == p.0 && s.1 >= p.1))
            .collect()
    };
    loop {
        let mut changed = false;
        for i in 0..subs.len() {
            if live[i] {
                continue;
            }
            let ok = subs[i].waits.iter().all(|&p| {
                if world.reached(p) {
                    return true;
                }
                let s = signallers(p, i);
                (open && s.is_empty()) || s.iter().any(|&j| live[j])
            });
            if ok {
                live[i] = true;
                changed = true;
            }
        }
        if !changed {
            return live;
        }
    }
}

fn label_point(p: &PointInfo) -> (String, u64) {
    (p.timeline.clone(), p.value)
}

/// Checks a reported cycle against the model: each step's submission is the refused one or an
/// accepted one, waits on the named point, the point is not reached, and the next step
/// signals it.
fn check_cycle(
    world: &World,
    recs: &[Rec],
    by_signal: &HashMap<(String, u64), usize>,
    candidate: &Rec,
    steps: &[BlockedOn],
) {
    assert!(!steps.is_empty());
    let rec_of = |i: usize| -> &Rec {
        if i == 0 {
            return candidate;
        }
        let first = steps[i]
            .submission
            .signals
            .iter()
            .find(|p| p.timeline.starts_with('t'))
            .unwrap_or_else(|| panic!("step {i} signals no test timeline: {steps:?}"));
        &recs[by_signal[&label_point(first)]]
    };
    for (i, step) in steps.iter().enumerate() {
        let rec = rec_of(i);
        assert_eq!(step.submission.queue, world.queues[rec.queue].name);
        let waits: Vec<PointInfo> = rec.waits.iter().map(|&p| world.info(p)).collect();
        assert!(
            waits.contains(&step.waits_on),
            "step {i} does not wait on {}: {rec:?}",
            step.waits_on
        );
        let signals: Vec<PointInfo> = rec.signals.iter().map(|&p| world.info(p)).collect();
        for s in &signals {
            assert!(step.submission.signals.contains(s), "step {i}: {steps:?}");
        }
        let (tl, v) = rec.waits[waits.iter().position(|w| *w == step.waits_on).unwrap_or(0)];
        assert!(!world.reached((tl, v)), "step {i} waits on a reached point");
        let next = &steps[(i + 1) % steps.len()].submission;
        assert!(
            next.signals
                .iter()
                .any(|s| s.timeline == step.waits_on.timeline && s.value >= step.waits_on.value),
            "step {} does not signal what step {i} waits on: {steps:?}",
            (i + 1) % steps.len()
        );
    }
}

/// Open descriptors of this process (Linux), or 0 where `/proc` has none.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// An exported point, and the host-signalled timeline importing it (if any).
#[cfg(target_os = "linux")]
struct Exported {
    point: Point,
    fd: TimelinePointFd,
    import: Option<Arc<Timeline>>,
}

#[test]
fn random_submissions_over_four_queues() {
    let fds_before = open_fds();
    let seed = std::env::var("TESSERA_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7e55_e7a5_eed5_u64);
    eprintln!("seed {seed}");
    let mut rng = Rng(seed.wrapping_mul(2).wrapping_add(1));
    let started = Instant::now();

    let mut world = World {
        timelines: Vec::new(),
        queues: Vec::new(),
        orders: Vec::new(),
    };
    for (i, ordered) in [false, false, true, true].into_iter().enumerate() {
        let name = format!("s{i}");
        let host: Arc<dyn Queue> = Arc::new(HostQueue::new(name.clone()).unwrap());
        let order = ordered.then(|| {
            world
                .orders
                .push((Arc::new(InOrderQueue::new(host.clone())), 0));
            world.orders.len() - 1
        });
        world.queues.push(StressQueue {
            name,
            host,
            order,
            buffer: Arc::new(HostBuffer::new(8).unwrap()),
        });
    }
    // Per timeline: values signalled so far by accepted submissions.
    let mut next: Vec<u64> = Vec::new();
    let new_timeline = |world: &mut World, next: &mut Vec<u64>| {
        let i = world.timelines.len();
        world
            .timelines
            .push(Arc::new(Timeline::new(format!("t{i}"))));
        next.push(0);
        i
    };
    // The timelines new submissions use.
    let mut active: Vec<usize> = (0..TIMELINES)
        .map(|_| new_timeline(&mut world, &mut next))
        .collect();
    let mut recs: Vec<Rec> = Vec::new();
    let mut by_signal: HashMap<(String, u64), usize> = HashMap::new();
    let mut unfinished: Vec<usize> = Vec::new();
    // A timeline with an accepted wait on its next value, and the waiting submission.
    let mut future: Option<(usize, usize)> = None;
    let mut bad_producer_tried = false;
    let (mut refused, mut made, mut retired, mut bad_cycles) = (0, 0usize, 0, 0);
    #[cfg(target_os = "linux")]
    let mut exported: Vec<Exported> = Vec::new();

    while made < MAX_SUBMISSIONS && started.elapsed() < SUBMIT_BUDGET {
        made += 1;
        unfinished.retain(|&i| !recs[i].signals.iter().all(|&p| world.reached(p)));
        // An in-order queue whose head waits on a point that will never come blocks all of
        // its later work; start a fresh wrapper then (the stuck work stays in the graph).
        for q in 0..world.queues.len() {
            if let Some(w) = world.queues[q].order {
                let (io, accepted) = &world.orders[w];
                if accepted.saturating_sub(io.order_point().0.value()) > 24 {
                    world
                        .orders
                        .push((Arc::new(InOrderQueue::new(world.queues[q].host.clone())), 0));
                    world.queues[q].order = Some(world.orders.len() - 1);
                }
            }
        }

        let mut queue = rng.below(world.queues.len());
        let mut waits: Vec<Point> = Vec::new();
        let mut signals: Vec<Point> = Vec::new();
        let mut signalled = Vec::new();
        let mut role = Role::Random;
        // The last submissions leave their waits on unsubmitted values without producers,
        // for the final host waits to report.
        let ending = made + 30 > MAX_SUBMISSIONS
            || started.elapsed() + Duration::from_millis(300) > SUBMIT_BUDGET;
        if let Some((t, consumer)) = future.filter(|_| !ending) {
            signalled.push(t);
            if !bad_producer_tried && rng.chance(2) {
                // A producer that closes a cycle with the consumer: it waits on the
                // consumer's signal, or follows it on the same in-order queue.
                role = Role::BadProducer;
                bad_producer_tried = true;
                let c = &recs[consumer];
                if world.queues[c.queue].order.is_some() && rng.chance(2) {
                    queue = c.queue;
                } else if let Some(&p) = c.signals.iter().find(|p| matches!(p.0, Tl::Real(_))) {
                    waits.push(p);
                }
            } else {
                // The plain producer, on a queue that does not order it behind the consumer.
                role = Role::Producer;
                queue = rng.below(2);
            }
        } else {
            // One or two signals, each ordered after the previous value of its timeline.
            let first = active[rng.below(TIMELINES)];
            signalled.push(first);
            if rng.chance(3) {
                let second = active[rng.below(TIMELINES)];
                if second != first {
                    signalled.push(second);
                }
            }
            // Random extra waits on points already signalled or submitted.
            for _ in 0..rng.below(3) {
                let t = active[rng.below(TIMELINES)];
                if next[t] > 0 {
                    let v = 1 + rng.below(next[t] as usize) as u64;
                    waits.push((Tl::Real(t), v));
                }
            }
            // Sometimes a wait on the next, not yet submitted value of a timeline: its
            // producer comes next.
            if rng.chance(if ending { 2 } else { 6 }) {
                let t = active[rng.below(TIMELINES)];
                if !signalled.contains(&t) {
                    // At the end, a value far enough that nothing will signal it.
                    let ahead = if ending { 1000 } else { 1 };
                    waits.push((Tl::Real(t), next[t] + ahead));
                    role = Role::Consumer(t);
                }
            }
        }
        // Waiting on a value of a timeline the submission itself signals past would make it
        // signal backwards (refused as invalid, tested elsewhere): not generated here.
        waits
            .retain(|&(tl, v)| !matches!(tl, Tl::Real(t) if signalled.contains(&t) && v > next[t]));
        for &t in &signalled {
            if next[t] > 0 {
                waits.push((Tl::Real(t), next[t]));
            }
            signals.push((Tl::Real(t), next[t] + 1));
        }
        let mut model = Rec {
            queue,
            waits: waits.clone(),
            signals: signals.clone(),
        };
        // The in-order queue's implicit wait and signal.
        let q = &world.queues[queue];
        let target: Arc<dyn Queue> = match q.order {
            Some(w) => {
                let accepted = world.orders[w].1;
                if accepted > 0 {
                    model.waits.push((Tl::Order(w), accepted));
                }
                model.signals.push((Tl::Order(w), accepted + 1));
                world.orders[w].0.clone()
            }
            None => q.host.clone(),
        };

        let to_points = |ps: &[Point]| -> Vec<(Arc<Timeline>, u64)> {
            ps.iter().map(|&(tl, v)| (world.timeline(tl), v)).collect()
        };
        let work = Work::Fill {
            dst: q.buffer.clone(),
            offset: 0,
            len: 8,
            pattern: vec![(made % 251) as u8],
        };
        let result = target.submit(work, &to_points(&waits), &to_points(&signals));

        let mut subs: Vec<&Rec> = unfinished.iter().map(|&i| &recs[i]).collect();
        subs.push(&model);
        let model_says_live = *model_live(&world, &subs, true).last().unwrap_or(&true);
        match result {
            Ok(()) => {
                assert!(
                    model_says_live,
                    "submission {made} was accepted but the model finds it in a cycle: {model:?}"
                );
                for &t in &signalled {
                    next[t] += 1;
                }
                if let Some(w) = world.queues[queue].order {
                    world.orders[w].1 += 1;
                }
                match role {
                    Role::Consumer(t) => {
                        future = Some((t, recs.len()));
                        bad_producer_tried = false;
                    }
                    Role::Producer => future = None,
                    Role::BadProducer => panic!("a producer closing a cycle was accepted"),
                    Role::Random => {}
                }
                for &(tl, v) in &model.signals {
                    if let Tl::Real(t) = tl {
                        by_signal.insert((format!("t{t}"), v), recs.len());
                    }
                }
                // Export one of its points now and then; import half of those back.
                #[cfg(target_os = "linux")]
                if rng.chance(6) {
                    if let Some(&p) = model.signals.iter().find(|p| matches!(p.0, Tl::Real(_))) {
                        let fd = world.timeline(p.0).export_point(p.1).unwrap();
                        let import = rng.chance(2).then(|| {
                            let local = Arc::new(Timeline::host_signalled(format!(
                                "import{}",
                                exported.len()
                            )));
                            Timeline::import_point(fd.try_clone().unwrap(), &local, 1).unwrap();
                            local
                        });
                        exported.push(Exported {
                            point: p,
                            fd,
                            import,
                        });
                    }
                }
                unfinished.push(recs.len());
                recs.push(model);
            }
            Err(e) => {
                refused += 1;
                assert!(
                    !model_says_live,
                    "submission {made} was refused but the model finds it live: {e}"
                );
                let steps = match &e {
                    HalError::Deadlock(r) => match r.as_ref() {
                        DeadlockReport::Cycle { steps } => steps.clone(),
                        other => panic!("refused without a cycle: {other}"),
                    },
                    other => panic!("refused with something else than a deadlock: {other}"),
                };
                check_cycle(&world, &recs, &by_signal, &model, &steps);
                // A plain producer that closes a cycle means the timeline can never move
                // again under the ordering rule: its work stays stuck (reported at the end),
                // and new submissions use a fresh timeline.
                match role {
                    Role::BadProducer => bad_cycles += 1,
                    Role::Producer => {
                        let t = signalled[0];
                        future = None;
                        if let Some(slot) = active.iter().position(|&a| a == t) {
                            active[slot] = new_timeline(&mut world, &mut next);
                            retired += 1;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let submitted_in = started.elapsed();

    // Which signal points can still be reached, with no more submissions coming.
    unfinished.retain(|&i| !recs[i].signals.iter().all(|&p| world.reached(p)));
    let subs: Vec<&Rec> = unfinished.iter().map(|&i| &recs[i]).collect();
    let live = model_live(&world, &subs, false);
    let point_live = |p: Point| -> bool {
        world.reached(p)
            || subs
                .iter()
                .zip(&live)
                .any(|(s, &l)| l && s.signals.iter().any(|q| q.0 == p.0 && q.1 >= p.1))
    };
    let mut expectations = Vec::new();
    for r in &recs {
        for &p in &r.signals {
            if let Tl::Real(_) = p.0 {
                expectations.push((p, point_live(p)));
            }
        }
    }
    let (mut ok, mut deadlocked) = (0usize, 0usize);
    for &((tl, v), live) in &expectations {
        let t = world.timeline(tl);
        match t.wait(v, LONG) {
            Ok(()) => {
                assert!(
                    live,
                    "{}@{v} was reached but the model finds it dead",
                    t.label()
                );
                ok += 1;
            }
            Err(HalError::Deadlock(r)) => {
                assert!(!live, "{}@{v} reported as a deadlock: {r}", t.label());
                assert!(
                    matches!(r.as_ref(), DeadlockReport::Unreachable { point, .. }
                    if point.timeline == t.label() && point.value == v)
                );
                deadlocked += 1;
            }
            Err(e) => panic!("{}@{v}: {e}", t.label()),
        }
    }
    let waited_in = started.elapsed() - submitted_in;

    // Points that will never be reached fail at shutdown: export some of them too, so
    // descriptors see failures as well as successes.
    #[cfg(target_os = "linux")]
    for (i, &(p, _)) in expectations
        .iter()
        .filter(|(_, live)| !live)
        .take(40)
        .enumerate()
    {
        let t = world.timeline(p.0);
        let fd = t.export_point(p.1).unwrap();
        let import = (i % 2 == 0).then(|| {
            let local = Arc::new(Timeline::host_signalled(format!("dead-import{i}")));
            Timeline::import_point(fd.try_clone().unwrap(), &local, 1).unwrap();
            local
        });
        exported.push(Exported {
            point: p,
            fd,
            import,
        });
    }

    // Shutting down resolves everything still pending: no signal point is left unresolved.
    let points: Vec<(Arc<Timeline>, u64)> = recs
        .iter()
        .flat_map(|r| r.signals.iter().map(|&(tl, v)| (world.timeline(tl), v)))
        .collect();
    world.queues.clear();
    world.orders.clear();
    for (t, v) in &points {
        assert!(
            matches!(t.poll(*v), Ok(true) | Err(_)),
            "{}@{v} neither reached nor failed after shutdown",
            t.label()
        );
    }
    assert_eq!(wait_graph::pending_submissions(), 0);

    // Every exported descriptor tells its timeline's outcome, and so does every import.
    #[cfg(target_os = "linux")]
    let (fd_reached, fd_failed) = {
        let (mut reached, mut failed) = (0usize, 0usize);
        for e in &exported {
            let t = world.timeline(e.point.0);
            let want = match t.poll(e.point.1) {
                Ok(true) => PointState::Reached,
                Ok(false) => panic!("{}@{} unresolved after shutdown", t.label(), e.point.1),
                Err(_) => PointState::Failed,
            };
            let got = e.fd.wait(LONG).unwrap();
            assert_eq!(got, want, "descriptor of {}@{}", t.label(), e.point.1);
            if let Some(local) = &e.import {
                match (want, local.wait(1, LONG)) {
                    (PointState::Reached, Ok(())) => {}
                    (PointState::Failed, Err(err)) => assert!(
                        matches!(err.root(), HalError::ImportedPointFailed { .. }),
                        "{err}"
                    ),
                    (want, got) => {
                        panic!("import of {}@{}: {want:?} vs {got:?}", t.label(), e.point.1)
                    }
                }
            }
            match want {
                PointState::Reached => reached += 1,
                _ => failed += 1,
            }
        }
        (reached, failed)
    };
    #[cfg(not(target_os = "linux"))]
    let (fd_reached, fd_failed) = (0, 0);
    #[cfg(target_os = "linux")]
    let exported_count = {
        let n = exported.len();
        drop(exported);
        n
    };
    #[cfg(not(target_os = "linux"))]
    let exported_count = 0;
    drop(world);
    drop(points);
    // The import watcher thread closes its own descriptor once it has nothing to watch.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_fds() != fds_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
    eprintln!(
        "{made} submissions ({refused} refused as cycles, {bad_cycles} of them deliberate; \
         {retired} stuck timelines replaced) \
         in {submitted_in:?}; \
         final waits: {ok} reached, {deadlocked} reported unreachable, in {waited_in:?}; \
         {exported_count} points exported as descriptors ({fd_reached} reached, {fd_failed} \
         failed), descriptors open before and after: {fds_before}"
    );
    assert!(made >= 1000, "only {made} submissions in the time budget");
    assert!(
        bad_cycles > 0 && deadlocked > 0,
        "no deadlock was exercised"
    );
    if cfg!(target_os = "linux") {
        assert!(
            fd_reached > 0 && fd_failed > 0,
            "exported points did not see both outcomes"
        );
    }
}
