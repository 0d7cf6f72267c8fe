using System.Collections.Concurrent;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// Unit attention conditions waiting to be reported to one initiator (I_T nexus), per LUN. A new session starts
/// with POWER ON OR RESET pending on every LUN when the target is configured to report it; each is reported once.
/// </summary>
public sealed class UnitAttentionState
{
    private readonly ConcurrentDictionary<int, AdditionalSense> _pending = new();

    public void Raise(int lun, AdditionalSense sense) => _pending[lun] = sense;

    /// <summary>Takes (and clears) the pending condition of <paramref name="lun"/>.</summary>
    public bool TryTake(int lun, out AdditionalSense sense) => _pending.TryRemove(lun, out sense);

    public bool IsPending(int lun) => _pending.ContainsKey(lun);
}
