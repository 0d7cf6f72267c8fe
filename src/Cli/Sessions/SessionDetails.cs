using System.Globalization;
using System.Text;

namespace IscsiUp.Cli.Sessions;

/// <summary>The values the target and we settled on at login (RFC 7143 section 13), as `session -P 2` shows them.</summary>
public sealed record NegotiatedParameters(
    string HeaderDigest, string DataDigest, int MaxRecvDataSegmentLength, int MaxXmitDataSegmentLength,
    int FirstBurstLength, int MaxBurstLength, bool ImmediateData, bool InitialR2T, int MaxOutstandingR2T,
    int MaxConnections, int DefaultTime2Wait, int DefaultTime2Retain, int ErrorRecoveryLevel, string? TargetAlias)
{
    public static NegotiatedParameters From(Iscsi.Login.SessionParameters p) => new(
        p.HeaderDigest ? "CRC32C" : "None", p.DataDigest ? "CRC32C" : "None",
        p.InitiatorMaxRecvDataSegmentLength, p.TargetMaxRecvDataSegmentLength,
        p.FirstBurstLength, p.MaxBurstLength, p.ImmediateData, p.InitialR2T, p.MaxOutstandingR2T,
        p.MaxConnections, p.DefaultTime2Wait, p.DefaultTime2Retain, p.ErrorRecoveryLevel, p.TargetAlias);
}

/// <summary>The timeouts a session runs with, in seconds, as `session -P 2` shows them (iscsiadm's "Timeouts").</summary>
public sealed record SessionTimers(int Recovery, int NopOutInterval, int NopOutTimeout, int Login, int Command, int Abort, int LuReset);

/// <summary>I/O through the exposed LUN since login.</summary>
public sealed record IoStatistics(long Reads, long ReadBytes, long Writes, long WriteBytes, long Flushes, long Errors)
{
    public static IoStatistics From(IoCounters c) => new(c.ReadCount, c.ReadByteCount, c.WriteCount, c.WriteByteCount, c.FlushCount, c.ErrorCount);
}

/// <summary>One exposed LUN of a session: its device, size and (for a session the daemon holds) its I/O.</summary>
public sealed record LunDetails(int Lun, string Device, long CapacityBytes)
{
    public IoStatistics? Io { get; init; }
}

/// <summary>
/// One session as `session -P N` and `session --json` show it. The record's fields are always there; the
/// live ones (connection state, recoveries, parameters, I/O) only for sessions the daemon holds, which it
/// answers for over the control socket.
/// </summary>
public sealed record SessionDetails
{
    public required int Id { get; init; }
    public required string Target { get; init; }
    public required string Portal { get; init; }
    public required int GroupTag { get; init; }
    public required string Initiator { get; init; }
    public required string State { get; init; }
    public required int Lun { get; init; }
    public required string Device { get; init; }
    public required long CapacityBytes { get; init; }
    public required int Pid { get; init; }
    /// <summary>
    /// Every LUN the session exposes, the first one first (<see cref="Lun"/>, <see cref="Device"/>,
    /// <see cref="CapacityBytes"/> and <see cref="Io"/> are the first one's); null from a daemon that predates it.
    /// </summary>
    public IReadOnlyList<LunDetails>? Luns { get; init; }
    /// <summary>LOGGED IN, or REOPEN while a lost connection is being replaced (iscsiadm's words); null when unknown.</summary>
    public string? ConnectionState { get; init; }
    public int? Recoveries { get; init; }
    /// <summary>The portal the session uses now: after a failover another one of its portal group than <see cref="Portal"/>.</summary>
    public string? CurrentPortal { get; init; }
    /// <summary>How many recoveries landed on a different portal than the one lost.</summary>
    public int? Failovers { get; init; }
    /// <summary>Every portal recovery may log in at, the one in use first and the last one lost at the back.</summary>
    public IReadOnlyList<string>? Portals { get; init; }
    public NegotiatedParameters? Parameters { get; init; }
    public IoStatistics? Io { get; init; }
    public SessionTimers? Timeouts { get; init; }

    public static SessionDetails From(SessionRecord r) => new()
    {
        Id = r.Id, Target = r.Target, Portal = r.Portal, GroupTag = r.GroupTag, Initiator = r.Initiator, State = r.State,
        Lun = r.Lun, Device = r.Device, CapacityBytes = r.CapacityBytes, Pid = r.Pid,
        Luns = [.. r.Luns.Select(l => new LunDetails(l.Lun, l.Device, l.CapacityBytes))],
        CurrentPortal = r.CurrentPortal,
        Failovers = r.Failovers > 0 ? r.Failovers : null,
    };

    /// <summary>iscsiadm -m session -P N's layout: 1 session and connection, 2 adds the parameters, 3 the LUN and its I/O.</summary>
    public string Format(int level)
    {
        var text = new StringBuilder();
        void Line(int indent, string line) => text.Append('\t', indent).Append(line).Append('\n');
        string Yes(bool value) => value ? "Yes" : "No";
        Line(0, $"Target: {Target}");
        Line(1, $"Current Portal: {CurrentPortal ?? Portal},{GroupTag}");
        if (CurrentPortal is { } current && current != Portal) Line(1, $"Persistent Portal: {Portal},{GroupTag}");
        Line(2, $"Iface Initiatorname: {Initiator}");
        Line(2, $"SID: {Id}");
        Line(2, $"iSCSI Connection State: {ConnectionState ?? "unknown (held by login --foreground, pid " + Pid.ToString(CultureInfo.InvariantCulture) + ")"}");
        Line(2, $"iSCSI Session State: {State}");
        if (Recoveries is { } recoveries) Line(2, $"Recoveries: {recoveries}");
        // Only for a session that can fail over (or did): a single-portal session's lines stay as they were.
        if (Failovers is { } failovers && (failovers > 0 || Portals is { Count: > 1 })) Line(2, $"Failovers: {failovers}");
        if (Portals is { Count: > 1 } portals) Line(2, $"Failover Portals: {string.Join(", ", portals.Skip(1))}");
        if (level >= 2 && Parameters is { } p)
        {
            Line(2, "Negotiated iSCSI params:");
            Line(3, $"HeaderDigest: {p.HeaderDigest}");
            Line(3, $"DataDigest: {p.DataDigest}");
            Line(3, $"MaxRecvDataSegmentLength: {p.MaxRecvDataSegmentLength}");
            Line(3, $"MaxXmitDataSegmentLength: {p.MaxXmitDataSegmentLength}");
            Line(3, $"FirstBurstLength: {p.FirstBurstLength}");
            Line(3, $"MaxBurstLength: {p.MaxBurstLength}");
            Line(3, $"ImmediateData: {Yes(p.ImmediateData)}");
            Line(3, $"InitialR2T: {Yes(p.InitialR2T)}");
            Line(3, $"MaxOutstandingR2T: {p.MaxOutstandingR2T}");
            Line(3, $"MaxConnections: {p.MaxConnections}");
            Line(3, $"DefaultTime2Wait: {p.DefaultTime2Wait}");
            Line(3, $"DefaultTime2Retain: {p.DefaultTime2Retain}");
            Line(3, $"ErrorRecoveryLevel: {p.ErrorRecoveryLevel}");
            if (p.TargetAlias is { } alias) Line(3, $"TargetAlias: {alias}");
        }
        if (level >= 2 && Timeouts is { } t)
        {
            Line(2, "Timeouts:");
            Line(3, $"Recovery Timeout: {t.Recovery}");
            Line(3, $"NOP-Out Interval: {t.NopOutInterval}");
            Line(3, $"NOP-Out Timeout: {t.NopOutTimeout}");
            Line(3, $"Login Timeout: {t.Login}");
            Line(3, $"Command Timeout: {t.Command}");
            Line(3, $"Abort Timeout: {t.Abort}");
            Line(3, $"LUN Reset Timeout: {t.LuReset}");
        }
        if (level >= 3)
        {
            foreach (var lun in Luns ?? [new LunDetails(Lun, Device, CapacityBytes) { Io = Io }])
            {
                Line(2, "Attached LUN:");
                Line(3, $"LUN: {lun.Lun}");
                Line(3, $"Device: {lun.Device}");
                Line(3, $"Size: {Cli.Format.Size(lun.CapacityBytes)} ({lun.CapacityBytes} bytes)");
                if (lun.Io is not { } io) continue;
                Line(3, $"Reads: {io.Reads} ({io.ReadBytes} bytes)");
                Line(3, $"Writes: {io.Writes} ({io.WriteBytes} bytes)");
                Line(3, $"Flushes: {io.Flushes}");
                Line(3, $"Errors: {io.Errors}");
            }
        }
        return text.ToString();
    }
}
