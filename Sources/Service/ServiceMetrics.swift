import Foundation
import HTTPServer
import Synchronization

/// Service-level metrics beside the HTTP server's: inference time per model, queue depth, batch
/// sizes and models loaded, in Prometheus text.
final class ServiceMetrics: Sendable {
    let http = HTTPMetrics()
    private let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    private let batchSizeBounds = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    private let histograms = Mutex<[String: (buckets: [Int], sum: Double, count: Int)]>([:])
    /// The shared budgets whose use is reported.
    private let imageMemory: ImageMemory
    private let saliencyCache: SaliencyCache
    /// The server whose queues and buffered bodies are reported, once it exists: it is made
    /// after these metrics, which observe it, and holds them through its routes, so not strongly.
    private let observed = Mutex(ObservedServer())

    private struct ObservedServer {
        weak var server: HTTPServer?
    }

    init(imageMemory: ImageMemory, saliencyCache: SaliencyCache) {
        self.imageMemory = imageMemory
        self.saliencyCache = saliencyCache
    }

    /// The server to report on.
    func observe(_ server: HTTPServer) {
        observed.withLock { $0.server = server }
    }

    func recordInference(model: String, kind: String, seconds: Double) {
        let key = "model=\"\(model)\",kind=\"\(kind)\""
        histograms.withLock { histograms in
            var h = histograms[key] ?? ([Int](repeating: 0, count: bounds.count), 0, 0)
            for (i, bound) in bounds.enumerated() where seconds <= bound { h.buckets[i] += 1 }
            h.sum += seconds
            h.count += 1
            histograms[key] = h
        }
    }

    func prometheusText(models: [LoadedModel]) -> String {
        var lines = [http.prometheusText(prefix: "salient_http")]
        lines.append("# HELP salient_inference_seconds Time to classify or explain one image, decode included.")
        lines.append("# TYPE salient_inference_seconds histogram")
        for (key, h) in histograms.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            for (i, bound) in bounds.enumerated() {
                lines.append("salient_inference_seconds_bucket{\(key),le=\"\(bound)\"} \(h.buckets[i])")
            }
            lines.append("salient_inference_seconds_bucket{\(key),le=\"+Inf\"} \(h.count)")
            lines.append("salient_inference_seconds_sum{\(key)} \(h.sum)")
            lines.append("salient_inference_seconds_count{\(key)} \(h.count)")
        }
        if let server = observed.withLock({ $0.server }) {
            lines.append("# HELP salient_http_queued_requests Requests waiting for a handler, by route class (max_queued_*).")
            lines.append("# TYPE salient_http_queued_requests gauge")
            let queued = server.queuedRequests
            for routeClass in RouteClass.allCases {
                lines.append("salient_http_queued_requests{queue=\"\(routeClass.rawValue)\"} \(queued[routeClass.rawValue] ?? 0)")
            }
            lines.append("# HELP salient_http_buffered_body_bytes Bytes of request bodies held in memory (max_buffered_body_bytes).")
            lines.append("# TYPE salient_http_buffered_body_bytes gauge")
            lines.append("salient_http_buffered_body_bytes \(server.bufferedBodyBytes)")
        }
        lines.append("# HELP salient_inference_queue_depth Requests waiting for an inference slot or a batch.")
        lines.append("# TYPE salient_inference_queue_depth gauge")
        for model in models {
            lines.append("salient_inference_queue_depth{model=\"\(model.name)\"} \(model.pool.queueDepth + model.batcher.queueDepth)")
        }
        lines.append("# HELP salient_inference_batch_size Images per batched classification run.")
        lines.append("# TYPE salient_inference_batch_size histogram")
        for model in models {
            let sizes = model.batcher.batchSizes
            for bound in batchSizeBounds {
                let count = sizes.countBySize.filter { $0.key <= bound }.values.reduce(0, +)
                lines.append("salient_inference_batch_size_bucket{model=\"\(model.name)\",le=\"\(bound)\"} \(count)")
            }
            lines.append("salient_inference_batch_size_bucket{model=\"\(model.name)\",le=\"+Inf\"} \(sizes.batches)")
            lines.append("salient_inference_batch_size_sum{model=\"\(model.name)\"} \(sizes.requests)")
            lines.append("salient_inference_batch_size_count{model=\"\(model.name)\"} \(sizes.batches)")
        }
        lines.append("# HELP salient_models_loaded Models the registry serves.")
        lines.append("# TYPE salient_models_loaded gauge")
        lines.append("salient_models_loaded \(models.count)")
        lines += resourceLines()
        return lines.joined(separator: "\n") + "\n"
    }

    /// Memory of the process and of the shared budgets.
    private func resourceLines() -> [String] {
        let memory = ProcessMemory.current
        let lines = [
            "# HELP process_resident_memory_bytes Resident memory size in bytes.",
            "# TYPE process_resident_memory_bytes gauge",
            "process_resident_memory_bytes \(memory.residentBytes)",
            "# HELP salient_heap_in_use_bytes Bytes glibc's malloc has handed out and not had back.",
            "# TYPE salient_heap_in_use_bytes gauge",
            "salient_heap_in_use_bytes \(memory.heapInUseBytes)",
            "# HELP salient_heap_free_bytes Bytes glibc's malloc holds free in its arenas, not returned to the system.",
            "# TYPE salient_heap_free_bytes gauge",
            "salient_heap_free_bytes \(memory.heapFreeBytes)",
        ]
        let images = imageMemory.usage, cache = saliencyCache.usage
        return lines + [
            "# HELP salient_image_memory_reserved_bytes Memory reserved by images being decoded and rendered (max_image_memory_bytes).",
            "# TYPE salient_image_memory_reserved_bytes gauge",
            "salient_image_memory_reserved_bytes \(images.reserved)",
            "# HELP salient_image_memory_high_water_bytes The most ever reserved at once.",
            "# TYPE salient_image_memory_high_water_bytes gauge",
            "salient_image_memory_high_water_bytes \(images.highWater)",
            "# HELP salient_saliency_cache_bytes Bytes of rendered maps kept (saliency_cache_bytes).",
            "# TYPE salient_saliency_cache_bytes gauge",
            "salient_saliency_cache_bytes \(cache.bytes)",
        ]
    }
}
