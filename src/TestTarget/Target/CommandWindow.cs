using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// The session's command numbering (RFC 7143 section 4.2.2.1): ExpCmdSN is the next CmdSN expected, and
/// MaxCmdSN = ExpCmdSN + window - 1 - commands still running, so a full queue closes the window and every
/// completion opens it by one. MaxCmdSN never moves backwards (initiators ignore a decrease).
/// </summary>
public sealed class CommandWindow
{
    private readonly object _lock = new();
    private readonly int _size;
    private uint _expCmdSN;
    private uint _maxCmdSN;
    private int _running;

    public CommandWindow(uint firstCmdSN, int size)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size));
        _size = size;
        _expCmdSN = firstCmdSN;
        _maxCmdSN = firstCmdSN + (uint)size - 1;
    }

    public enum Verdict
    {
        /// <summary>The expected command: process it.</summary>
        Accept,
        /// <summary>Already received (a retransmission): drop it silently.</summary>
        Duplicate,
        /// <summary>Beyond MaxCmdSN or ahead of a gap: the initiator broke the numbering rules.</summary>
        OutOfWindow,
    }

    public uint ExpCmdSN { get { lock (_lock) return _expCmdSN; } }
    public uint MaxCmdSN { get { lock (_lock) return _maxCmdSN; } }
    public int Running { get { lock (_lock) return _running; } }

    /// <summary>Both values at once, consistent with each other, for stamping an outgoing PDU.</summary>
    public (uint Exp, uint Max) Snapshot() { lock (_lock) return (_expCmdSN, _maxCmdSN); }

    /// <summary>Checks a non-immediate PDU's CmdSN and advances ExpCmdSN when accepted. <paramref name="occupiesSlot"/> keeps a slot until <see cref="Release"/>.</summary>
    public Verdict Receive(uint cmdSN, bool occupiesSlot)
    {
        lock (_lock)
        {
            if (SerialNumber.LessThan(cmdSN, _expCmdSN)) return Verdict.Duplicate;
            if (cmdSN != _expCmdSN) return Verdict.OutOfWindow; // one connection per session: commands arrive in order
            _expCmdSN++;
            if (occupiesSlot) _running++;
            Update();
            return Verdict.Accept;
        }
    }

    /// <summary>An occupied slot is free again (command completed); call before sending its final response so the response opens the window.</summary>
    public void Release()
    {
        lock (_lock)
        {
            _running--;
            Update();
        }
    }

    private void Update()
    {
        uint candidate = _expCmdSN + (uint)(_size - Math.Max(0, _running)) - 1;
        if (SerialNumber.GreaterThan(candidate, _maxCmdSN)) _maxCmdSN = candidate;
    }
}
