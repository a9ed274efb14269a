import CNN
import Foundation
import Synchronization

/// The latest sanity check's verdict for each saliency method of one model version, so that
/// the saliency answer can say whether the method's maps depend on what this model learned.
/// Kept in memory with the loaded version: a new version, or a restart, starts unchecked.
final class SanityVerdicts: Sendable {
    private let verdicts = Mutex<[SaliencyMethod: SaliencyService.SanityVerdict]>([:])

    func verdict(for method: SaliencyMethod) -> SaliencyService.SanityVerdict? {
        verdicts.withLock { $0[method] }
    }

    func record(_ report: SaliencySanityCheck.Report) {
        verdicts.withLock { verdicts in
            for method in report.methods {
                verdicts[method.method] = SaliencyService.SanityVerdict(
                    flagged: method.flagged, meanSpearman: method.meanSpearman, threshold: SaliencySanityCheck.flagThreshold,
                    layers: method.steps.count)
            }
        }
    }
}
