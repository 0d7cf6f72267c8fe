namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// Unit attention conditions waiting to be reported to one initiator (I_T nexus), per LUN, oldest first except
/// that POWER ON OR RESET goes before the rest (SAM-5 precedence). A condition already pending is not queued twice;
/// each is reported once.
/// </summary>
public sealed class UnitAttentionState
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, List<AdditionalSense>> _pending = [];
    private int _count; // conditions pending on all LUNs: lets every command skip the lock when there are none

    public void Raise(int lun, AdditionalSense sense)
    {
        lock (_lock)
        {
            if (!_pending.TryGetValue(lun, out List<AdditionalSense>? queue)) _pending[lun] = queue = [];
            if (queue.Contains(sense)) return;
            if (sense.Code == AdditionalSense.PowerOnOrReset.Code) queue.Insert(0, sense);
            else queue.Add(sense);
            Volatile.Write(ref _count, _count + 1);
        }
    }

    /// <summary>Takes (and clears) the oldest pending condition of <paramref name="lun"/>.</summary>
    public bool TryTake(int lun, out AdditionalSense sense)
    {
        sense = default;
        if (Volatile.Read(ref _count) == 0) return false;
        lock (_lock)
        {
            if (!_pending.TryGetValue(lun, out List<AdditionalSense>? queue) || queue.Count == 0) return false;
            sense = queue[0];
            queue.RemoveAt(0);
            Volatile.Write(ref _count, _count - 1);
            return true;
        }
    }

    public bool IsPending(int lun)
    {
        lock (_lock) return _pending.TryGetValue(lun, out List<AdditionalSense>? queue) && queue.Count > 0;
    }

    /// <summary>Clears <paramref name="sense"/> on every LUN (REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED, SPC-4).</summary>
    public void Clear(AdditionalSense sense)
    {
        if (Volatile.Read(ref _count) == 0) return;
        lock (_lock)
        {
            foreach (List<AdditionalSense> queue in _pending.Values)
                if (queue.Remove(sense)) Volatile.Write(ref _count, _count - 1);
        }
    }

    /// <summary>Drops what is pending for a LUN that no longer exists.</summary>
    public void Forget(int lun)
    {
        lock (_lock)
        {
            if (_pending.Remove(lun, out List<AdditionalSense>? queue)) Volatile.Write(ref _count, _count - queue.Count);
        }
    }
}
