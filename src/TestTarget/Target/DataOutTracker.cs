using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// Bookkeeping for the Data-Out of one write command (RFC 7143 sections 4.2.5 and 11.7): immediate data, an
/// optional unsolicited burst (up to FirstBurstLength), then R2Ts of at most MaxBurstLength each with at most
/// MaxOutstandingR2T outstanding. It decides which R2Ts to send and validates every Data-Out against them.
/// Used only by the connection's reader loop.
/// </summary>
public sealed class DataOutTracker
{
    /// <summary>One R2T and how much of it has arrived.</summary>
    public sealed record Burst(uint Ttt, uint R2TSN, int Offset, int Length)
    {
        public int Received { get; set; }

        /// <summary>DataSN the next Data-Out of this sequence must carry.</summary>
        public uint NextDataSN { get; set; }
    }

    private readonly List<Burst> _outstanding = [];
    private readonly int _wanted;
    private readonly int _expected;
    private readonly int _unsolicitedLimit;
    private readonly int _maxBurst;
    private readonly int _maxOutstanding;
    private int _nextSolicited;
    private int _unsolicitedEnd;
    private uint _nextR2TSN;
    private uint _unsolicitedDataSN;

    /// <param name="wanted">Bytes the command needs (at most <paramref name="expected"/>); only these are solicited.</param>
    /// <param name="expected">The initiator's Expected Data Transfer Length: no Data-Out may go beyond it.</param>
    /// <param name="immediate">Bytes of immediate data in the command PDU.</param>
    /// <param name="unsolicitedFollows">The command's F bit was 0: unsolicited Data-Out PDUs follow.</param>
    /// <param name="firstBurst">FirstBurstLength in force.</param>
    public DataOutTracker(int wanted, int expected, int immediate, bool unsolicitedFollows, int firstBurst, int maxBurst, int maxOutstanding)
    {
        _wanted = wanted;
        _expected = expected;
        _maxBurst = maxBurst;
        _maxOutstanding = Math.Max(1, maxOutstanding);
        _unsolicitedEnd = immediate;
        UnsolicitedPending = unsolicitedFollows;
        _unsolicitedLimit = unsolicitedFollows ? Math.Min(firstBurst, expected) : immediate;
        _nextSolicited = Math.Min(immediate, wanted);
    }

    /// <summary>Unsolicited Data-Out PDUs are still to come (the one with the F bit has not arrived).</summary>
    public bool UnsolicitedPending { get; private set; }

    public uint R2TCount => _nextR2TSN;

    /// <summary>All the data the command needs has arrived and nothing more is expected.</summary>
    public bool IsComplete => !UnsolicitedPending && _outstanding.Count == 0 && _nextSolicited >= _wanted;

    /// <summary>
    /// R2Ts that may be sent now; <paramref name="newTtt"/> hands out transfer tags unique on the connection.
    /// None while the unsolicited burst is still arriving: once it has ended, R2Ts ask for exactly what it did not
    /// carry, in order, even when the initiator sent less than FirstBurstLength.
    /// </summary>
    public List<Burst> TakeR2Ts(Func<uint> newTtt)
    {
        var bursts = new List<Burst>();
        while (!UnsolicitedPending && _outstanding.Count < _maxOutstanding && _nextSolicited < _wanted)
        {
            int length = Math.Min(_maxBurst, _wanted - _nextSolicited);
            var burst = new Burst(newTtt(), _nextR2TSN++, _nextSolicited, length);
            _nextSolicited += length;
            _outstanding.Add(burst);
            bursts.Add(burst);
        }
        return bursts;
    }

    /// <summary>
    /// Checks a Data-Out PDU against what was allowed or asked for; returns an error message or null. DataSN counts
    /// from 0 within each sequence (the unsolicited burst, or one R2T), and with DataPDUInOrder=Yes each PDU continues
    /// where the previous one ended.
    /// </summary>
    public string? Accept(uint ttt, uint dataSN, uint offset, int length, bool final)
    {
        if ((long)offset + length > _expected)
            return $"Data-Out at offset {offset} + {length} goes beyond the expected data transfer length {_expected}";
        if (ttt == Pdu.ReservedTag)
        {
            if (!UnsolicitedPending) return "unsolicited Data-Out that was not announced (F bit set on the command, or burst already ended)";
            if (offset + length > _unsolicitedLimit) return $"unsolicited Data-Out beyond FirstBurstLength ({offset} + {length} > {_unsolicitedLimit})";
            if (dataSN != _unsolicitedDataSN) return $"unsolicited Data-Out with DataSN {dataSN}, expected {_unsolicitedDataSN}";
            if (offset != _unsolicitedEnd) return $"unsolicited Data-Out at offset {offset}, expected {_unsolicitedEnd} (DataPDUInOrder=Yes)";
            _unsolicitedDataSN++;
            _unsolicitedEnd = Math.Max(_unsolicitedEnd, (int)offset + length);
            if (final)
            {
                UnsolicitedPending = false;
                _nextSolicited = Math.Min(_unsolicitedEnd, _wanted);
            }
            return null;
        }
        Burst? burst = _outstanding.Find(b => b.Ttt == ttt);
        if (burst is null) return $"Data-Out with unknown target transfer tag 0x{ttt:x8}";
        if (offset < burst.Offset || offset + length > burst.Offset + burst.Length)
            return $"Data-Out at offset {offset} + {length} is outside its R2T ({burst.Offset} + {burst.Length})";
        if (dataSN != burst.NextDataSN) return $"Data-Out with DataSN {dataSN} for R2T {burst.R2TSN}, expected {burst.NextDataSN}";
        if (offset != burst.Offset + burst.Received) return $"Data-Out at offset {offset} for R2T {burst.R2TSN}, expected {burst.Offset + burst.Received} (DataPDUInOrder=Yes)";
        burst.NextDataSN++;
        burst.Received += length;
        if (burst.Received >= burst.Length || final)
        {
            if (burst.Received < burst.Length) return $"Data-Out sequence for R2T {burst.R2TSN} ended after {burst.Received} of {burst.Length} bytes";
            _outstanding.Remove(burst);
        }
        return null;
    }
}
