//! The wait-for graph: every pending and running submission of every queue of every device in
//! the process, with the timeline points it waits on and signals. It turns the two ways a
//! pipeline can hang into errors:
//!
//! - a submission that would close a cycle (it waits, directly or through other submissions,
//!   on a point that only it can make reachable) is refused at submit with
//!   [`HalError::Deadlock`] carrying a [`DeadlockReport::Cycle`];
//! - a host [`Timeline::wait`] on a point that no pending or running work can ever signal
//!   returns [`HalError::Deadlock`] carrying a [`DeadlockReport::Unreachable`] instead of
//!   sleeping until its timeout.
//!
//! # Contract for queue implementations
//!
//! A [`Queue`](crate::Queue) registers once with [`register_queue`] and, for every submission:
//!
//! 1. calls [`QueueRegistration::submit`] before accepting the work. An error (a
//!    [`HalError::Deadlock`]) means the work must not be accepted; nothing is recorded.
//! 2. calls [`Ticket::start`] when the work starts running (or starts failing because a wait
//!    timeline failed);
//! 3. signals or fails every signal point, and only then drops the [`Ticket`] (or calls
//!    [`Ticket::finish`]), which removes the submission from the graph.
//!
//! Dropping a ticket without signalling its points is a lost signal: waiters on those points
//! then get a deadlock report rather than a hang. The checker only knows about submissions
//! registered here, so a queue that does not register makes its timelines look unsignalled.
//!
//! # Rules
//!
//! A pending submission is *live* when each of its wait points is
//!
//! - reached, or on a failed timeline (the submission will run, or fail, without delay);
//! - on a [host-signalled](Timeline::host_signalled) timeline (code outside the queues may
//!   signal it at any time, so the checker never counts it as stuck); or
//! - signalled (at that value or above) by a live submission.
//!
//! Running submissions are live. Liveness is the least fixpoint of these rules, computed over
//! the whole graph (an AND over a submission's waits, an OR over a point's signallers).
//!
//! At submit time, a point that no pending or running submission signals is *open*: waiting
//! before the producer is submitted is legal, so open points count as satisfiable. A new
//! submission that is not live under this rule depends on itself: it is in a cycle and is
//! refused. Every submission in the graph was live when it was accepted, and adding a live
//! submission keeps the others live.
//!
//! For a host wait, open points count as unsatisfiable: the host is blocked, so it will not
//! submit the producer. A point that is neither reached, failed, host-signalled, nor
//! signalled by a live submission can never be reached. [`Timeline::wait`] checks this on
//! entry and then every [`HOST_WAIT_CHECK_INTERVAL`] while it sleeps; wake-ups on signals stay
//! driven by the timeline's condition variable. Only the work that could lead to the point
//! is considered: unrelated work running on other queues does not delay the report.
//!
//! # Lock order
//!
//! A queue's own locks, then the graph's lock, then timeline locks. The graph lock is held
//! only inside this module, which reads timelines but never signals them and never calls
//! back into a queue; [`Timeline::wait`] releases its timeline's lock before consulting the
//! graph.

use crate::error::HalError;
use crate::queue::TimePoint;
use crate::timeline::Timeline;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How often a blocked [`Timeline::wait`] re-runs the deadlock check while it sleeps.
pub const HOST_WAIT_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// A timeline point as named in a [`DeadlockReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointInfo {
    /// The timeline's label.
    pub timeline: String,
    /// The value.
    pub value: u64,
}

impl fmt::Display for PointInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'@{}", self.timeline, self.value)
    }
}

/// A submission as named in a [`DeadlockReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionInfo {
    /// The graph's id of the submission (unique in the process, in submission order).
    pub id: u64,
    /// The name of the queue it was submitted to.
    pub queue: String,
    /// The kind of work ([`Work::kind`](crate::Work::kind)).
    pub work: String,
    /// The points it signals.
    pub signals: Vec<PointInfo>,
}

impl fmt::Display for SubmissionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} ({} on queue '{}')", self.id, self.work, self.queue)
    }
}

/// One link of a deadlock: a submission and the point it is stuck waiting on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedOn {
    /// The submission.
    pub submission: SubmissionInfo,
    /// The wait point it cannot get past.
    pub waits_on: PointInfo,
}

/// What [`HalError::Deadlock`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlockReport {
    /// A refused submission that would have closed a cycle. `steps[0]` is the refused
    /// submission; each step waits on a point that the next step signals, and the last step
    /// waits on a point that `steps[0]` signals.
    Cycle {
        /// The submissions around the cycle, starting with the refused one.
        steps: Vec<BlockedOn>,
    },
    /// A host wait on a point that no pending or running work can signal.
    Unreachable {
        /// The awaited point.
        point: PointInfo,
        /// Why: `chain[0]` signals `point`, each step waits on a point that the next step
        /// signals, and the last step waits on a point that nothing pending or running
        /// signals. Empty when nothing pending or running signals `point` itself.
        chain: Vec<BlockedOn>,
        /// Pending submissions that wait on `point` (or a later value of its timeline).
        waiters: Vec<SubmissionInfo>,
    },
}

impl fmt::Display for DeadlockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadlockReport::Cycle { steps } => {
                let Some(first) = steps.first() else {
                    return write!(f, "a submission would close an empty cycle");
                };
                write!(
                    f,
                    "submission {} would close a cycle: {} waits on {}",
                    first.submission, first.submission, first.waits_on
                )?;
                for s in &steps[1..] {
                    write!(
                        f,
                        ", signalled by {}, which waits on {}",
                        s.submission, s.waits_on
                    )?;
                }
                write!(f, ", signalled by {}", first.submission)
            }
            DeadlockReport::Unreachable {
                point,
                chain,
                waiters,
            } => {
                write!(f, "{point} can never be reached: ")?;
                match chain.split_first() {
                    None => write!(f, "no pending or running submission signals it")?,
                    Some((first, rest)) => {
                        write!(
                            f,
                            "it is signalled by {}, which waits on {}",
                            first.submission, first.waits_on
                        )?;
                        for s in rest {
                            write!(
                                f,
                                ", signalled by {}, which waits on {}",
                                s.submission, s.waits_on
                            )?;
                        }
                        write!(f, ", which no pending or running submission signals")?;
                    }
                }
                if !waiters.is_empty() {
                    const SHOWN: usize = 8;
                    write!(f, "; blocked behind it: ")?;
                    for (i, w) in waiters.iter().take(SHOWN).enumerate() {
                        if i > 0 {
                            write!(f, ", ")?;
                        }
                        write!(f, "{w}")?;
                    }
                    if waiters.len() > SHOWN {
                        write!(f, " and {} more", waiters.len() - SHOWN)?;
                    }
                }
                Ok(())
            }
        }
    }
}

struct Sub {
    queue: Arc<str>,
    work: String,
    waits: Vec<TimePoint>,
    signals: Vec<TimePoint>,
    running: bool,
}

struct Graph {
    next_id: u64,
    subs: BTreeMap<u64, Sub>,
}

static GRAPH: Mutex<Graph> = Mutex::new(Graph {
    next_id: 1,
    subs: BTreeMap::new(),
});

fn graph() -> MutexGuard<'static, Graph> {
    // Every update of the graph is a single insert, remove or flag store, so a poisoned
    // lock still guards a consistent graph.
    GRAPH.lock().unwrap_or_else(|p| p.into_inner())
}

/// A queue's handle on the wait-for graph; see the [module docs](self) for the contract.
#[derive(Debug, Clone)]
pub struct QueueRegistration {
    name: Arc<str>,
}

/// Registers a queue named `name` with the process-wide wait-for graph.
pub fn register_queue(name: &str) -> QueueRegistration {
    QueueRegistration { name: name.into() }
}

impl QueueRegistration {
    /// The queue's name, as deadlock reports show it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records a submission of `work` (a short kind such as `"fill"`) waiting on `waits` and
    /// signalling `signals`, as pending.
    ///
    /// Fails with [`HalError::Deadlock`] ([`DeadlockReport::Cycle`]) when the submission
    /// would close a cycle, and with [`HalError::Invalid`] when it waits on a point of a
    /// timeline it signals at that value or below (the signal could only move the timeline
    /// backwards). Nothing is recorded then, and the queue must refuse the work.
    pub fn submit(
        &self,
        work: &str,
        waits: &[TimePoint],
        signals: &[TimePoint],
    ) -> Result<Ticket, HalError> {
        for (wt, wv) in waits {
            if let Some((_, sv)) = signals
                .iter()
                .find(|(st, sv)| st.id() == wt.id() && sv <= wv)
            {
                return Err(HalError::Invalid(format!(
                    "{work} on queue '{}' waits on '{}'@{wv} and signals it at {sv}: the \
                     signal could only move the timeline backwards",
                    self.name,
                    wt.label()
                )));
            }
        }
        let mut g = graph();
        let id = g.next_id;
        let candidate = Sub {
            queue: self.name.clone(),
            work: work.to_string(),
            waits: waits.to_vec(),
            signals: signals.to_vec(),
            running: false,
        };
        let mut nodes: Vec<Node<'_>> = g.subs.iter().map(|(id, s)| Node::of(*id, s)).collect();
        nodes.push(Node::of(id, &candidate));
        let a = Analysis::run(nodes, true);
        let me = a.nodes.len() - 1;
        if !a.live[me] {
            return Err(HalError::Deadlock(Box::new(DeadlockReport::Cycle {
                steps: a.cycle_through(me),
            })));
        }
        drop(a);
        g.next_id += 1;
        g.subs.insert(id, candidate);
        Ok(Ticket { id })
    }
}

/// A submission recorded in the wait-for graph. Dropping it (or [`Ticket::finish`]) removes
/// the submission: do that only after every signal point was signalled or failed.
#[derive(Debug)]
pub struct Ticket {
    id: u64,
}

impl Ticket {
    /// The submission's id, as deadlock reports show it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Marks the submission as running: it no longer waits on anything.
    pub fn start(&self) {
        if let Some(s) = graph().subs.get_mut(&self.id) {
            s.running = true;
        }
    }

    /// Removes the submission from the graph (the same as dropping the ticket).
    pub fn finish(self) {}
}

impl Drop for Ticket {
    fn drop(&mut self) {
        graph().subs.remove(&self.id);
    }
}

/// The number of submissions in the graph (pending or running), over all queues.
pub fn pending_submissions() -> usize {
    graph().subs.len()
}

/// The deadlock check of a host wait on (`timeline`, `value`): an error when no pending or
/// running work can bring the timeline to `value`.
pub(crate) fn check_host_wait(timeline: &Timeline, value: u64) -> Result<(), HalError> {
    if timeline.is_host_signalled() {
        return Ok(());
    }
    let g = graph();
    let (current, failed) = timeline.snapshot();
    if current >= value || failed {
        return Ok(());
    }
    let nodes: Vec<Node<'_>> = g.subs.iter().map(|(id, s)| Node::of(*id, s)).collect();
    let a = Analysis::run(nodes, false);
    let tix = a.tl_index.get(&timeline.id()).copied();
    if let Some(tix) = tix {
        if a.point_satisfied(tix, value, None) {
            return Ok(());
        }
    }
    let chain = match tix {
        Some(tix) => a.chain_to_unsignalled(tix, value),
        None => Vec::new(),
    };
    let waiters = match tix {
        Some(tix) => a.waiters_of(tix, value),
        None => Vec::new(),
    };
    Err(HalError::Deadlock(Box::new(DeadlockReport::Unreachable {
        point: PointInfo {
            timeline: timeline.label().to_string(),
            value,
        },
        chain,
        waiters,
    })))
}

/// A submission as the analysis sees it.
struct Node<'a> {
    id: u64,
    sub: &'a Sub,
}

impl<'a> Node<'a> {
    fn of(id: u64, sub: &'a Sub) -> Node<'a> {
        Node { id, sub }
    }
}

/// A timeline as the analysis sees it: a snapshot of its state and its signallers.
struct Tl {
    value: u64,
    failed: bool,
    host: bool,
    /// (value, node) of every signal on this timeline.
    signallers: Vec<(u64, usize)>,
}

struct Analysis<'a> {
    nodes: Vec<Node<'a>>,
    tls: Vec<Tl>,
    tl_index: HashMap<u64, usize>,
    /// Per node, the timeline index of each wait and of each signal.
    wait_tix: Vec<Vec<usize>>,
    open_counts: bool,
    live: Vec<bool>,
}

impl<'a> Analysis<'a> {
    fn run(nodes: Vec<Node<'a>>, open_counts: bool) -> Analysis<'a> {
        let mut tls: Vec<Tl> = Vec::new();
        let mut tl_index: HashMap<u64, usize> = HashMap::new();
        let mut index = |t: &Arc<Timeline>, tls: &mut Vec<Tl>| -> usize {
            *tl_index.entry(t.id()).or_insert_with(|| {
                let (value, failed) = t.snapshot();
                tls.push(Tl {
                    value,
                    failed,
                    host: t.is_host_signalled(),
                    signallers: Vec::new(),
                });
                tls.len() - 1
            })
        };
        let mut wait_tix = Vec::with_capacity(nodes.len());
        let mut signal_tix = Vec::with_capacity(nodes.len());
        for (n, node) in nodes.iter().enumerate() {
            wait_tix.push(
                node.sub
                    .waits
                    .iter()
                    .map(|(t, _)| index(t, &mut tls))
                    .collect::<Vec<_>>(),
            );
            let sig: Vec<usize> = node
                .sub
                .signals
                .iter()
                .map(|(t, v)| {
                    let i = index(t, &mut tls);
                    tls[i].signallers.push((*v, n));
                    i
                })
                .collect();
            signal_tix.push(sig);
        }
        let mut a = Analysis {
            live: vec![false; nodes.len()],
            nodes,
            tls,
            tl_index,
            wait_tix,
            open_counts,
        };
        a.fixpoint(&signal_tix);
        a
    }

    /// Whether (tix, v), awaited by node `waiter` (`None` for the host), is satisfied without
    /// any signaller's help.
    fn immediate(&self, tix: usize, v: u64, waiter: Option<usize>) -> bool {
        let t = &self.tls[tix];
        t.value >= v
            || t.failed
            || t.host
            || (self.open_counts && self.signallers(tix, v, waiter).next().is_none())
    }

    fn point_satisfied(&self, tix: usize, v: u64, waiter: Option<usize>) -> bool {
        self.immediate(tix, v, waiter) || self.signallers(tix, v, waiter).any(|n| self.live[n])
    }

    /// Worklist least fixpoint: a node becomes live when its count of unsatisfied waits
    /// drops to zero; a live node satisfies every wait on its signal timelines up to the
    /// value it signals.
    fn fixpoint(&mut self, signal_tix: &[Vec<usize>]) {
        let n = self.nodes.len();
        let mut remaining = vec![0usize; n];
        // Per timeline: unsatisfied waits sorted by value, and how far they are satisfied.
        let mut waiters: Vec<Vec<(u64, usize)>> = vec![Vec::new(); self.tls.len()];
        for (i, rem) in remaining.iter_mut().enumerate() {
            for (k, (_, v)) in self.nodes[i].sub.waits.iter().enumerate() {
                let tix = self.wait_tix[i][k];
                if !self.immediate(tix, *v, Some(i)) {
                    *rem += 1;
                    waiters[tix].push((*v, i));
                }
            }
        }
        for w in &mut waiters {
            w.sort_unstable();
        }
        let mut cursor = vec![0usize; self.tls.len()];
        let mut work: Vec<usize> = Vec::new();
        for (i, rem) in remaining.iter().enumerate() {
            if self.nodes[i].sub.running || *rem == 0 {
                self.live[i] = true;
                work.push(i);
            }
        }
        while let Some(i) = work.pop() {
            for (k, (_, sv)) in self.nodes[i].sub.signals.iter().enumerate() {
                let tix = signal_tix[i][k];
                let list = &waiters[tix];
                while cursor[tix] < list.len() && list[cursor[tix]].0 <= *sv {
                    let w = list[cursor[tix]].1;
                    cursor[tix] += 1;
                    remaining[w] = remaining[w].saturating_sub(1);
                    if remaining[w] == 0 && !self.live[w] {
                        self.live[w] = true;
                        work.push(w);
                    }
                }
            }
        }
    }

    fn info(&self, n: usize) -> SubmissionInfo {
        let node = &self.nodes[n];
        SubmissionInfo {
            id: node.id,
            queue: node.sub.queue.to_string(),
            work: node.sub.work.clone(),
            signals: node
                .sub
                .signals
                .iter()
                .map(|(t, v)| PointInfo {
                    timeline: t.label().to_string(),
                    value: *v,
                })
                .collect(),
        }
    }

    fn blocked_on(&self, n: usize, k: usize) -> BlockedOn {
        let (t, v) = &self.nodes[n].sub.waits[k];
        BlockedOn {
            submission: self.info(n),
            waits_on: PointInfo {
                timeline: t.label().to_string(),
                value: *v,
            },
        }
    }

    /// The unsatisfied waits of node `n`, as (wait index, timeline index, value).
    fn blocking(&self, n: usize) -> impl Iterator<Item = (usize, usize, u64)> + '_ {
        self.nodes[n]
            .sub
            .waits
            .iter()
            .enumerate()
            .map(move |(k, (_, v))| (k, self.wait_tix[n][k], *v))
            .filter(move |&(_, tix, v)| !self.point_satisfied(tix, v, Some(n)))
    }

    /// The nodes signalling (tix, ≥ v), other than `waiter`: a submission signals only after
    /// its waits are satisfied, so it never satisfies its own wait.
    fn signallers(
        &self,
        tix: usize,
        v: u64,
        waiter: Option<usize>,
    ) -> impl Iterator<Item = usize> + '_ {
        self.tls[tix]
            .signallers
            .iter()
            .filter(move |&&(sv, n)| sv >= v && Some(n) != waiter)
            .map(|&(_, n)| n)
    }

    /// The shortest cycle of blocking edges from the dead node `me` back to itself. Such a
    /// cycle exists when every other node was live before `me` was added.
    fn cycle_through(&self, me: usize) -> Vec<BlockedOn> {
        // parent[n] = (node, wait index) whose blocked wait `n` signals.
        let mut parent: HashMap<usize, (usize, usize)> = HashMap::new();
        let mut queue = VecDeque::from([me]);
        while let Some(d) = queue.pop_front() {
            for (k, tix, v) in self.blocking(d) {
                for s in self.signallers(tix, v, Some(d)) {
                    if s == me {
                        let mut steps = vec![self.blocked_on(d, k)];
                        let mut cur = d;
                        while cur != me {
                            let Some(&(p, pk)) = parent.get(&cur) else {
                                break;
                            };
                            steps.push(self.blocked_on(p, pk));
                            cur = p;
                        }
                        steps.reverse();
                        return steps;
                    }
                    if s != me && !parent.contains_key(&s) {
                        parent.insert(s, (d, k));
                        queue.push_back(s);
                    }
                }
            }
        }
        // Not reached when the graph's invariant holds; name the blocked waits at least.
        self.blocking(me)
            .map(|(k, _, _)| self.blocked_on(me, k))
            .collect()
    }

    /// A shortest chain from a signaller of the dead point (tix, v) to a submission waiting
    /// on a point that nothing in the graph signals.
    fn chain_to_unsignalled(&self, tix: usize, v: u64) -> Vec<BlockedOn> {
        let mut parent: HashMap<usize, Option<(usize, usize)>> = HashMap::new();
        let mut queue = VecDeque::new();
        for s in self.signallers(tix, v, None) {
            if let Entry::Vacant(e) = parent.entry(s) {
                e.insert(None);
                queue.push_back(s);
            }
        }
        while let Some(d) = queue.pop_front() {
            for (k, wtix, wv) in self.blocking(d) {
                let mut any = false;
                for s in self.signallers(wtix, wv, Some(d)) {
                    any = true;
                    if let Entry::Vacant(e) = parent.entry(s) {
                        e.insert(Some((d, k)));
                        queue.push_back(s);
                    }
                }
                if !any {
                    let mut steps = vec![self.blocked_on(d, k)];
                    let mut cur = d;
                    while let Some(Some((p, pk))) = parent.get(&cur) {
                        steps.push(self.blocked_on(*p, *pk));
                        cur = *p;
                    }
                    steps.reverse();
                    return steps;
                }
            }
        }
        // Every dead path loops: name the first blocked signaller.
        self.signallers(tix, v, None)
            .take(1)
            .flat_map(|s| self.blocking(s).take(1).map(move |(k, _, _)| (s, k)))
            .map(|(s, k)| self.blocked_on(s, k))
            .collect()
    }

    /// Pending submissions that wait on (tix, ≥ v).
    fn waiters_of(&self, tix: usize, v: u64) -> Vec<SubmissionInfo> {
        (0..self.nodes.len())
            .filter(|&n| {
                !self.nodes[n].sub.running
                    && self.nodes[n]
                        .sub
                        .waits
                        .iter()
                        .enumerate()
                        .any(|(k, (_, wv))| self.wait_tix[n][k] == tix && *wv >= v)
            })
            .map(|n| self.info(n))
            .collect()
    }
}
