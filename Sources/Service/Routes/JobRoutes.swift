import Foundation
import HTTPServer

/// Fine-tuning jobs over HTTP: submit, list, inspect, cancel, and watch as Server-Sent Events.
struct JobRoutes {
    let store: JobQueue
    let worker: JobWorker
    let events: JobEvents
    /// Events of jobs that run on other replicas, when the queue is shared.
    let relay: JobEventRelay?
    let registry: ModelRegistry
    let datasets: DatasetStore
    /// `max_training_set_bytes` and `max_training_batch_bytes`.
    let budgets: ResourceBudgets
    /// `max_queued_jobs`, and the Retry-After of its refusal.
    let maxQueuedJobs: Int
    let retryAfterSeconds: Int

    struct Listing: Encodable {
        var jobs: [Job]
    }

    func register(on router: GuardedRouter) {
        router.post("/v1/jobs", bodies: .json) { request in
            let job = try submit(request.body)
            return try .json(job, status: .accepted, encoder: StoredJSON.encoder)
        }
        router.get("/v1/jobs") { _ in
            try .json(Listing(jobs: store.all()), encoder: StoredJSON.encoder)
        }
        router.get("/v1/jobs/:id") { request in
            try .json(store.job(request.parameter("id")), encoder: StoredJSON.encoder)
        }
        router.post("/v1/jobs/:id/cancel", bodies: .json) { request in
            try .json(worker.cancel(request.parameter("id")), encoder: StoredJSON.encoder)
        }
        router.get("/v1/jobs/:id/events") { request in
            let id = try request.parameter("id")
            _ = try store.job(id)
            return .serverSentEvents { [store, events, relay] writer in
                JobRoutes.stream(id, store: store, events: events, relay: relay, to: writer)
            }
        }
    }

    /// Progress and epochs as they happen, then the job's state; the stream ends after a final state.
    private static func stream(_ id: String, store: JobQueue, events: JobEvents, relay: JobEventRelay?,
                               to writer: ResponseBodyWriter) {
        @Sendable func send(_ name: String, _ value: any Encodable) {
            guard let data = try? StoredJSON.encoder.encode(value) else { return }
            writer.send(ServerSentEvent(event: name, data: String(decoding: data, as: UTF8.self)))
        }
        let token = events.subscribe(id) { event in
            switch event {
            case let .progress(progress): send("progress", progress)
            case let .epoch(metrics): send("epoch", metrics)
            case let .plan(plan): send("plan", plan)
            case let .state(job):
                send("state", job)
                if job.state.isFinal { writer.finish() }
            }
        }
        writer.onClose { events.unsubscribe(id, token) }
        // Subscribed first, so a final state cannot slip between this read and the subscription.
        guard let job = try? store.job(id) else { return writer.finish() }
        relay?.streamStarted(with: job)
        send("state", job)
        if job.state.isFinal { writer.finish() }
    }

    private func submit(_ body: Data) throws -> Job {
        let request: JobRequest
        do {
            request = try JSONDecoder().decode(JobRequest.self, from: body)
        } catch {
            throw ServiceError.badParameter("the body must be a JSON job request with base_model, dataset and output_model: "
                + ((error as? DecodingError)?.problem ?? "\(error)"))
        }
        if let problem = request.problem { throw ServiceError.badParameter(problem) }
        let base = try registry.model(named: request.baseModel)
        let dataset = try datasets.dataset(request.dataset)
        let images = dataset.counts.values.reduce(0, +)
        let bytes = ImageFolder.bytes(images: images, inputShape: base.inputShape)
        guard bytes <= budgets.maxTrainingSetBytes else {
            throw BudgetError.exceeded("\(images) images at the input size of '\(base.name)' (\(base.inputShape)) take \(bytes) bytes "
                + "decoded; a training set may hold \(budgets.maxTrainingSetBytes)", setting: "max_training_set_bytes")
        }
        // A batch never holds more images than the training set has.
        let batch = min(request.batchSize, images)
        let (batchBytes, overflow) = batch.multipliedReportingOverflow(by: base.saliencyBytesPerImage)
        guard !overflow, batchBytes <= budgets.maxTrainingBatchBytes else {
            throw BudgetError.exceeded("a batch of \(batch) images through '\(base.name)' takes about \(batchBytes) bytes of activations "
                + "and gradients; at most \(budgets.maxTrainingBatchBytes) are allowed: lower batch_size", setting: "max_training_batch_bytes")
        }
        guard ModelRegistry.isValidName(request.outputModel) else {
            throw ServiceError.badParameter("output_model must be 1 to 64 lowercase letters, digits, '-', '_' or '.'")
        }
        try registry.checkRoom(for: request.outputModel)
        if base.card.architecture == nil {
            // A fine-tuned imported model is stored as ONNX; refuse now rather than after training.
            do { _ = try ModelFormats.onnx(base.graph) } catch {
                throw ServiceError.invalidModel(
                    "'\(base.name)' is not a native model and this build cannot store a fine-tuned copy: \(error)")
            }
        }
        let id = "job-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let job = Job(id: id, request: request, created: Date())
        do {
            try store.insert(job, maxQueued: maxQueuedJobs)
        } catch let full as JobQueueFull {
            throw BudgetError.busy("\(full.queued) fine-tuning jobs are already waiting for a worker", setting: "max_queued_jobs",
                                   retryAfterSeconds: retryAfterSeconds)
        }
        worker.notify()
        return job
    }
}
