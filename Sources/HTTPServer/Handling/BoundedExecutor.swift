import Dispatch
import Synchronization

/// Runs at most `width` jobs at a time; the rest wait without holding a thread, so a burst of
/// requests cannot make Dispatch spawn a thread per blocked handler.
///
/// Waiting jobs are kept in one FIFO per queue class, each bounded: `submit` refuses a job whose
/// class already has its limit waiting, so a flood is answered (503) instead of held, each job
/// with its request and body. A freed slot goes to the classes in turn, so a flood of one class
/// (classification) delays another (a model listing) by at most one job per class ahead of it.
///
/// Each running job has a serial queue of its own, one of `width`. Serial queues overcommit:
/// Dispatch gives each busy one a thread. Concurrent queues, the global ones included, do not:
/// Dispatch keeps about one thread per core on them, so handlers that block (on an inference
/// slot, a batch, a lock) would keep the other jobs, and the `.quick` pool's, from starting
/// while the cores sit idle.
final class BoundedExecutor: Sendable {
    typealias Job = @Sendable () -> Void

    private struct State {
        var waiting: [String: FIFO<Job>] = [:]
        /// Classes in the order they were first seen; `turn` is the one served next.
        var classes: [String] = []
        var turn = 0
        var idleLanes: [DispatchQueue]
    }

    private let state: Mutex<State>

    init(width: Int) {
        precondition(width > 0, "An executor needs at least one slot")
        state = Mutex(State(idleLanes: (0..<width).map { DispatchQueue(label: "http.handler.\($0)", qos: .userInitiated) }))
    }

    /// Runs `job` now, or queues it behind the others of its class; false, and nothing queued,
    /// when `limit` jobs of the class are already waiting.
    func submit(_ job: @escaping Job, queue name: String, limit: Int) -> Bool {
        enum Outcome { case start(DispatchQueue), queued, refused }
        let outcome: Outcome = state.withLock { state in
            if let lane = state.idleLanes.popLast() { return .start(lane) }
            guard state.waiting[name, default: FIFO()].count < limit else { return .refused }
            if state.waiting[name] == nil { state.classes.append(name) }
            state.waiting[name, default: FIFO()].append(job)
            return .queued
        }
        switch outcome {
        case .start(let lane):
            start(job, on: lane)
            return true
        case .queued: return true
        case .refused: return false
        }
    }

    /// Whether a job of the class would be refused now.
    func isFull(queue name: String, limit: Int) -> Bool {
        state.withLock { $0.idleLanes.isEmpty && ($0.waiting[name]?.count ?? 0) >= limit }
    }

    /// Jobs waiting, by class.
    var depths: [String: Int] {
        state.withLock { $0.waiting.mapValues(\.count) }
    }

    private func start(_ job: @escaping Job, on lane: DispatchQueue) {
        lane.async { [self] in
            job()
            jobFinished(on: lane)
        }
    }

    /// Starts the next waiting job, the classes taking turns, on `lane`, or returns it to the idle ones.
    private func jobFinished(on lane: DispatchQueue) {
        let next: Job? = state.withLock { state in
            for step in 0..<state.classes.count {
                let index = (state.turn + step) % state.classes.count
                guard let next = state.waiting[state.classes[index]]?.popFirst() else { continue }
                state.turn = (index + 1) % state.classes.count
                return next
            }
            state.idleLanes.append(lane)
            return nil
        }
        if let next { start(next, on: lane) }
    }
}

/// A first-in first-out queue whose taken elements are released at once: an element holds a
/// request (body included), and under sustained load the queue may never drain to be emptied.
struct FIFO<Element> {
    private var elements: [Element?] = []
    private var head = 0

    var count: Int { elements.count - head }

    mutating func append(_ element: Element) {
        elements.append(element)
    }

    mutating func popFirst() -> Element? {
        guard head < elements.count else { return nil }
        let element = elements[head]
        elements[head] = nil
        head += 1
        if head == elements.count {
            elements.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= elements.count {
            elements.removeFirst(head)
            head = 0
        }
        return element
    }
}
