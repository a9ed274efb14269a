import Foundation
import Synchronization

/// The engine's worker threads: they run the chunks of one parallel loop at a time beside the
/// thread that called it.
///
/// Between parallel loops the workers spin for a while before they sleep, as onnxruntime's
/// do: a small model runs hundreds of loops of tens of microseconds each, and waking a
/// sleeping thread (or a Dispatch worker) for every one of them cost more than the loop, so
/// that two threads ran no faster than one.
///
/// Each thread first runs the chunks of its own share of the loop, the same share of every
/// loop, so that where consecutive loops split the same way a thread reads what it wrote in
/// the loop before: on this virtual machine a cache line written by the other vCPU sometimes
/// takes a microsecond to arrive (two-thread SqueezeNet in such a minute: 9.7 → 9.2 ms against
/// chunks dealt out in the order threads asked). A thread that has finished its share takes
/// the chunks left at the end of the others', so a thread that is late or slow (asleep, or
/// sharing its core with another request's thread or another process) never holds up the
/// others.
final class EnginePool: @unchecked Sendable {
    static let shared = EnginePool()

    /// How long an idle worker spins before it sleeps: longer than the serial stretches of a
    /// backward pass (clearing gradients), or the worker sleeps through them and joins late.
    private static let spinNanoseconds: UInt64 = 5_000_000
    private static let maximumThreads = 1 << 8

    /// The loop on offer: generation (upper 32 bits) and the number of threads that may join.
    private let ticket = CachePadded(Atomic<UInt64>(0))
    /// Each thread's share of the loop, claimed from the front by its thread and from the back
    /// by the others, each on its own cache line.
    private let shares = (0..<EnginePool.maximumThreads).map { _ in Share() }
    /// Chunks done, counted by every thread as it leaves the loop and spun on by the owner.
    private let finished = CachePadded(Atomic<Int>(0))
    private let owned = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let wakeUp = NSCondition()
    /// Written by the owner before it publishes a loop's ticket and cleared only after every
    /// claimed chunk has finished, so workers read it without a lock.
    private var body: ((_ chunk: Int, _ slot: Int) -> Void)?
    private var workers = 0

    /// Runs `body(chunk, slot)` for every chunk in 0..<chunks, each once, on the calling thread
    /// and up to `threads - 1` workers. `slot` (0..<threads) names the thread running the
    /// chunk, so that each can use its own part of a scratch buffer; thread `slot` starts with
    /// the chunks of the `slot`-th of `threads` equal shares. A call made while the pool runs
    /// another loop (a nested loop, or a second request's thread) runs its chunks in turn on its
    /// own thread, as slot 0.
    func run(chunks: Int, threads: Int, _ body: (_ chunk: Int, _ slot: Int) -> Void) {
        precondition(chunks < 1 << 16 && threads < Self.maximumThreads)
        guard chunks > 1, threads > 1,
              owned.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for chunk in 0..<chunks { body(chunk, 0) }
            return
        }
        defer { owned.store(false, ordering: .releasing) }
        startWorkers(threads - 1)
        withoutActuallyEscaping(body) { body in
            self.body = body
            finished.value.store(0, ordering: .relaxed)
            // Wraps within its 32 bits (a long-running service passes 2^32 loops in months).
            let generation = ((ticket.value.load(ordering: .relaxed) >> 32) &+ 1) & 0xFFFF_FFFF
            for slot in 0..<threads {
                shares[slot].offer(chunks * slot / threads..<chunks * (slot + 1) / threads, generation: generation)
            }
            ticket.value.store(generation << 32 | UInt64(threads), ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wakeUp.lock()
                wakeUp.broadcast()
                wakeUp.unlock()
            }
            runChunks(of: generation, slot: 0, threads: threads)
            var spins = 0
            while finished.value.load(ordering: .acquiring) < chunks { pause(&spins) }
            self.body = nil
        }
    }

    /// Runs the chunks of its own share of loop `generation`, then those left in the others',
    /// and counts them once it has run them all: counted chunk by chunk, the counter's cache line
    /// went back and forth between the threads once a chunk, and on this machine such a transfer
    /// sometimes takes microseconds.
    private func runChunks(of generation: UInt64, slot: Int, threads: Int) {
        var done = 0
        for victim in 0..<threads {
            let share = shares[(slot + victim) % threads]
            while let chunk = victim == 0 ? share.claimFirst(of: generation) : share.claimLast(of: generation) {
                run(chunk: chunk, slot: slot)
                done += 1
            }
        }
        if done > 0 { finished.value.add(done, ordering: .releasing) }
    }

    /// Calls `body` out of line, so that the reference it takes to the closure is dropped
    /// before `finished` counts the chunks: once the owner sees every chunk counted it leaves
    /// `withoutActuallyEscaping`, and the closure's context (on its stack) is gone.
    @inline(never)
    private func run(chunk: Int, slot: Int) {
        body!(chunk, slot)
    }

    private func startWorkers(_ count: Int) {
        guard workers < count else { return }
        wakeUp.lock()
        defer { wakeUp.unlock() }
        while workers < count {
            let slot = workers + 1
            let thread = Thread { [unowned self] in self.work(slot: slot) }
            thread.name = "salient-engine-\(workers)"
            thread.start()
            workers += 1
        }
    }

    private func work(slot: Int) {
        var seen = ticket.value.load(ordering: .acquiring) >> 32
        while true {
            let loop = nextLoop(after: seen)
            seen = loop >> 32
            let threads = Int(loop & 0xFF)
            if slot < threads { runChunks(of: seen, slot: slot, threads: threads) }
        }
    }

    /// Waits for a loop newer than generation `seen` and returns its ticket: spinning at first,
    /// then asleep until `run` wakes it.
    private func nextLoop(after seen: UInt64) -> UInt64 {
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinNanoseconds
        var spins = 0
        while true {
            let loop = ticket.value.load(ordering: .acquiring)
            if loop >> 32 != seen { return loop }
            pause(&spins)
            if spins & 0xFF == 0, DispatchTime.now().uptimeNanoseconds > deadline { break }
        }
        wakeUp.lock()
        defer { wakeUp.unlock() }
        // Counted before the ticket is read again, so that `run` either sees a sleeper and
        // wakes it or stored its ticket before this read sees it.
        sleepers.add(1, ordering: .sequentiallyConsistent)
        defer { sleepers.subtract(1, ordering: .sequentiallyConsistent) }
        while true {
            let loop = ticket.value.load(ordering: .sequentiallyConsistent)
            if loop >> 32 != seen { return loop }
            wakeUp.wait()
        }
    }

    /// One step of a spin: after the first thousand, each step yields the core, so a spinning
    /// thread never starves another request's thread of a core for long.
    @inline(__always)
    private func pause(_ spins: inout Int) {
        spins += 1
        if spins > 1000 { sched_yield() }
    }
}

/// One thread's share of a loop's chunks, packed so that one compare-and-swap claims a chunk of
/// a given loop: generation (upper 32 bits), first unclaimed chunk (16 bits), end (16 bits).
private final class Share: Sendable {
    private let word = CachePadded(Atomic<UInt64>(0))

    func offer(_ chunks: Range<Int>, generation: UInt64) {
        word.value.store(generation << 32 | UInt64(chunks.lowerBound) << 16 | UInt64(chunks.upperBound), ordering: .relaxed)
    }

    /// The share's first unclaimed chunk, taken by the thread it belongs to.
    func claimFirst(of generation: UInt64) -> Int? {
        claim(of: generation) { current in (current + (1 << 16), Int(current >> 16 & 0xFFFF)) }
    }

    /// The share's last unclaimed chunk, taken by a thread that has finished its own.
    func claimLast(of generation: UInt64) -> Int? {
        claim(of: generation) { current in (current - 1, Int(current & 0xFFFF) - 1) }
    }

    private func claim(of generation: UInt64, _ next: (UInt64) -> (word: UInt64, chunk: Int)) -> Int? {
        var current = word.value.load(ordering: .acquiring)
        while current >> 32 == generation, current >> 16 & 0xFFFF < current & 0xFFFF {
            let (claimed, seen) = word.value.compareExchange(expected: current, desired: next(current).word,
                                                              ordering: .acquiringAndReleasing)
            if claimed { return next(current).chunk }
            current = seen
        }
        return nil
    }
}
