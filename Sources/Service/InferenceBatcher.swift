import CNN
import Foundation

/// Coalesces single-image inferences on one model into batch-N runs of its executor pool.
///
/// Policy ("continuous batching"): callers run the batches themselves, at most `pool.size`
/// at once. A caller that finds a free slot and no other caller gathering becomes the
/// leader: it takes what is queued and starts at once, unless other requests for the model
/// are still being decoded (announced by `infer(_:)` before preparing its input). Only then
/// does it wait for them, until the batch is full or the oldest queued request has waited
/// `maxDelay`. A request that comes alone therefore never waits; requests that arrive while
/// every slot is busy queue up and leave together in the next batch.
///
/// Batch sizes are powers of two up to `maxBatchSize` (and `maxBatchSize` itself), taking
/// only that many from the queue, so an executor plans buffers for a few shapes, never
/// one per size. The callers are the server's handlers, so at most `handlerConcurrency` queue
/// here; overload is refused before them, in the handler queue (`max_queued_requests`).
final class InferenceBatcher: @unchecked Sendable {
    let pool: ExecutorPool
    let maxBatchSize: Int
    let maxDelay: Double
    /// Where each batch's run is counted.
    let statistics: InferenceStatistics
    /// Guards the state below; only a gathering leader waits on it, so arrivals signal it.
    private let lock = NSCondition()
    private var queue: [Request] = []
    /// Requests announced but still decoding: the only reason a leader waits.
    private var preparing = 0
    /// Slots taken by leaders, gathering or running a batch.
    private var running = 0
    private var gathering = false
    private var sizes = BatchStatistics()

    /// One caller's image. Its caller sleeps on `wake` until its result is in or it is handed
    /// the lead of the next batch, so a finished batch wakes only the callers it concerns.
    private final class Request {
        let input: Tensor
        let arrival = DispatchTime.now()
        let wake = DispatchSemaphore(value: 0)
        var result: Result<Tensor, Error>?
        var leads = false
        /// From arrival to its batch's start, and its batch's run.
        var timing = InferenceStatistics.RequestTiming()

        init(input: Tensor) { self.input = input }
    }

    init(pool: ExecutorPool, maxBatchSize: Int, maxDelay: Double, statistics: InferenceStatistics) {
        self.pool = pool
        self.statistics = statistics
        self.maxBatchSize = max(maxBatchSize, 1)
        self.maxDelay = max(maxDelay, 0)
    }

    /// Preparations (decoding, preprocessing) that run at once, across every model: one per
    /// core. Batching needs many handlers, each waiting while its image is in a batch, and when
    /// all of them decoded at once (16 threads on 2 cores, beside the executors) a SqueezeNet
    /// request cost 21 ms of CPU instead of the 17 it costs without batching.
    private static let preparations = DispatchSemaphore(value: ProcessInfo.processInfo.activeProcessorCount)

    /// Infers `prepare()`'s input, of shape [1] + the model's input shape, in whatever batch it
    /// joins, and returns its own row of the output with the time it waited for its batch and
    /// the batch's run. A `prepare` that throws joins no batch.
    func infer(_ prepare: () throws -> Tensor) throws -> (output: Tensor, timing: InferenceStatistics.RequestTiming) {
        lock.withLock { preparing += 1 }
        let input: Tensor
        do {
            InferenceBatcher.preparations.wait()
            defer { InferenceBatcher.preparations.signal() }
            input = try prepare()
        } catch {
            lock.withLock {
                preparing -= 1
                lock.signal()
            }
            throw error
        }
        let request = Request(input: input)
        var leads: Bool = lock.withLock {
            preparing -= 1
            lock.signal()
            queue.append(request)
            guard running < pool.size, !gathering else { return false }
            running += 1
            return true
        }
        while true {
            if leads { runBatch() }
            if let result = lock.withLock({ request.result }) { return (try result.get(), lock.withLock { request.timing }) }
            request.wake.wait()
            leads = lock.withLock {
                defer { request.leads = false }
                return request.leads
            }
        }
    }

    /// Runs one batch in a slot the caller holds, then hands the slot to the next queued
    /// request or frees it.
    private func runBatch() {
        lock.lock()
        gathering = true
        if let oldest = queue.first {
            let deadline = Date(timeIntervalSinceNow: maxDelay - seconds(since: oldest.arrival))
            while queue.count < maxBatchSize, preparing > 0, lock.wait(until: deadline) {}
        }
        gathering = false
        let batch = Array(queue.prefix(InferenceBatcher.batchSize(queued: queue.count, limit: maxBatchSize)))
        queue.removeFirst(batch.count)
        if !batch.isEmpty { sizes.record(batch.count) }
        // Another slot may be free while this one gathered; what is left should not wait for it.
        if running < pool.size { handOver(takingSlot: true) }
        lock.unlock()

        let started = DispatchTime.now()
        let results = batch.isEmpty ? [] : InferenceBatcher.run(batch.map(\.input), on: pool)
        let ran = nanoseconds(since: started)
        if case .success? = results.first { statistics.recordExecution(batchSize: batch.count, nanoseconds: ran) }
        lock.lock()
        for (request, result) in zip(batch, results) {
            request.timing.queue = started.uptimeNanoseconds - request.arrival.uptimeNanoseconds
            request.timing.infer = ran
            request.result = result
            request.wake.signal()
        }
        if !handOver(takingSlot: false) { running -= 1 }
        lock.unlock()
    }

    /// Makes the oldest queued request lead a batch, in a new slot or in the caller's; false
    /// when there is nobody to hand to. Called with the lock held.
    @discardableResult
    private func handOver(takingSlot: Bool) -> Bool {
        guard !gathering, let next = queue.first(where: { !$0.leads }) else { return false }
        if takingSlot { running += 1 }
        next.leads = true
        next.wake.signal()
        return true
    }

    /// The largest power of two not above `queued`, or `limit` when that many are queued.
    static func batchSize(queued: Int, limit: Int) -> Int {
        if queued >= limit { return limit }
        var size = 1
        while size * 2 <= queued { size *= 2 }
        return size
    }

    /// One inference over the stacked inputs, split back into one row per input.
    private static func run(_ inputs: [Tensor], on pool: ExecutorPool) -> [Result<Tensor, Error>] {
        let sample = inputs[0].shape.dropFirst()
        do {
            let stacked = inputs.count == 1 ? inputs[0]
                : Tensor(shape: [inputs.count] + sample, scalars: inputs.flatMap(\.scalars))
            let output = try pool.withExecutor { try $0.infer(stacked) }
            let row = output.count / inputs.count
            let rowShape = [1] + output.shape.dropFirst()
            return (0..<inputs.count).map {
                .success(Tensor(shape: rowShape, scalars: Array(output.scalars[($0 * row)..<(($0 + 1) * row)])))
            }
        } catch {
            return inputs.map { _ in .failure(error) }
        }
    }

    /// Requests queued for a batch.
    var queueDepth: Int { lock.withLock { queue.count } }

    /// How many batches of each size ran since start.
    var batchSizes: BatchStatistics { lock.withLock { sizes } }
}

/// Counts of batches by size, for `/metrics`.
struct BatchStatistics {
    private(set) var countBySize: [Int: Int] = [:]

    mutating func record(_ size: Int) { countBySize[size, default: 0] += 1 }

    var batches: Int { countBySize.values.reduce(0, +) }
    var requests: Int { countBySize.reduce(0) { $0 + $1.key * $1.value } }
}
