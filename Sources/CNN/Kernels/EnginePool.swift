import Foundation
import Synchronization

/// The engine's worker threads: they run the chunks of one parallel loop at a time beside the
/// thread that called it.
///
/// Between parallel loops the workers spin for a while before they sleep, as onnxruntime's
/// do: a small model runs hundreds of loops of tens of microseconds each, and waking a
/// sleeping thread (or a Dispatch worker) for every one of them cost more than the loop, so
/// that two threads ran no faster than one. Chunks are claimed, not assigned, and loops cut
/// into more chunks than threads, so a thread that is late or slow (asleep, or sharing its core
/// with another request's thread or another process) never holds up the others: they take
/// its chunks.
final class EnginePool: @unchecked Sendable {
    static let shared = EnginePool()

    /// How long an idle worker spins before it sleeps: longer than the serial stretches of a
    /// backward pass (clearing gradients), or the worker sleeps through them and joins late.
    private static let spinNanoseconds: UInt64 = 5_000_000

    /// The loop on offer, packed so that one compare-and-swap claims a chunk of a given loop:
    /// generation (upper 32 bits), threads that may join (8 bits), chunk count (12 bits), next
    /// unclaimed chunk (12 bits).
    private let ticket = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    private let owned = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let wakeUp = NSCondition()
    /// Written by the owner before it publishes a loop's ticket and cleared only after every
    /// claimed chunk has finished, so workers read it without a lock.
    private var body: ((_ chunk: Int, _ slot: Int) -> Void)?
    private var workers = 0

    /// Runs `body(chunk, slot)` for every chunk in 0..<chunks, each once, on the calling thread
    /// and up to `threads - 1` workers. `slot` (0..<threads) names the thread running the
    /// chunk, so that each can use its own part of a scratch buffer. A call made while the pool
    /// runs another loop (a nested loop, or a second request's thread) runs its chunks in turn
    /// on its own thread, as slot 0.
    func run(chunks: Int, threads: Int, _ body: (_ chunk: Int, _ slot: Int) -> Void) {
        precondition(chunks < 1 << 12 && threads < 1 << 8)
        guard chunks > 1, threads > 1,
              owned.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for chunk in 0..<chunks { body(chunk, 0) }
            return
        }
        defer { owned.store(false, ordering: .releasing) }
        startWorkers(threads - 1)
        withoutActuallyEscaping(body) { body in
            self.body = body
            finished.store(0, ordering: .relaxed)
            // Wraps within its 32 bits (a long-running service passes 2^32 loops in months).
            let generation = ((ticket.load(ordering: .relaxed) >> 32) &+ 1) & 0xFFFF_FFFF
            ticket.store(generation << 32 | UInt64(threads) << 24 | UInt64(chunks) << 12,
                         ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wakeUp.lock()
                wakeUp.broadcast()
                wakeUp.unlock()
            }
            runChunks(of: generation, slot: 0)
            var spins = 0
            while finished.load(ordering: .acquiring) < chunks { pause(&spins) }
            self.body = nil
        }
    }

    /// Claims and runs chunks of loop `generation` until none is left, unless the loop wants
    /// fewer threads than `slot`.
    private func runChunks(of generation: UInt64, slot: Int) {
        var current = ticket.load(ordering: .acquiring)
        guard slot < Int((current >> 24) & 0xFF) else { return }
        while current >> 32 == generation, current & 0xFFF < (current >> 12) & 0xFFF {
            let (claimed, seen) = ticket.compareExchange(expected: current, desired: current + 1,
                                                         ordering: .acquiringAndReleasing)
            if claimed {
                run(chunk: Int(current & 0xFFF), slot: slot)
                finished.add(1, ordering: .releasing)
                current += 1
            } else {
                current = seen
            }
        }
    }

    /// Calls `body` out of line, so that the reference it takes to the closure is dropped
    /// before `finished` counts the chunk: once the owner sees every chunk counted it leaves
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
        var seen = ticket.load(ordering: .acquiring) >> 32
        while true {
            seen = nextGeneration(after: seen)
            runChunks(of: seen, slot: slot)
        }
    }

    /// Waits for a loop newer than `seen`: spinning at first, then asleep until `run` wakes it.
    private func nextGeneration(after seen: UInt64) -> UInt64 {
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinNanoseconds
        var spins = 0
        while true {
            let generation = ticket.load(ordering: .acquiring) >> 32
            if generation != seen { return generation }
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
            let generation = ticket.load(ordering: .sequentiallyConsistent) >> 32
            if generation != seen { return generation }
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
