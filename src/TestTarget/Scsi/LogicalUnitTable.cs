using LunAddress = IscsiUp.Iscsi.Scsi.LunAddress;
using System.Buffers.Binary;

namespace IscsiUp.TestTarget.Scsi;

/// <summary>
/// The logical units behind one SCSI target port: routes commands by LUN, answers REPORT LUNS itself,
/// reports LOGICAL UNIT NOT SUPPORTED for LUNs that do not exist, and delivers a pending unit attention once
/// (SPC-4 section 5.14: INQUIRY and REPORT LUNS pass by it, REQUEST SENSE returns it as data, anything else fails with it).
/// Units can be added and removed while commands run: the table is an immutable snapshot replaced on each change.
/// </summary>
public sealed class LogicalUnitTable
{
    private readonly Lock _changeLock = new();
    private SortedDictionary<int, ILogicalUnit> _units; // never modified once published
    private readonly DeviceIdentity _missingIdentity;

    public LogicalUnitTable(IReadOnlyDictionary<int, ILogicalUnit> units, string targetName)
    {
        if (units.Count == 0) throw new ArgumentException("a target needs at least one logical unit", nameof(units));
        _units = new SortedDictionary<int, ILogicalUnit>(units.ToDictionary());
        _missingIdentity = DeviceIdentity.For(targetName, -1);
    }

    /// <summary>The LUNs right now, in ascending order.</summary>
    public IReadOnlyList<int> Luns => [.. Volatile.Read(ref _units).Keys];

    public ILogicalUnit? Find(int lun) => Volatile.Read(ref _units).GetValueOrDefault(lun);

    /// <summary>Adds a unit at a free LUN; false when the LUN is taken.</summary>
    public bool TryAdd(int lun, ILogicalUnit unit)
    {
        lock (_changeLock)
        {
            if (_units.ContainsKey(lun)) return false;
            var next = new SortedDictionary<int, ILogicalUnit>(_units) { [lun] = unit };
            Volatile.Write(ref _units, next);
            return true;
        }
    }

    /// <summary>Removes a unit; commands already running on it finish, later ones find no LUN. The last unit stays.</summary>
    public bool TryRemove(int lun, out ILogicalUnit? unit)
    {
        lock (_changeLock)
        {
            unit = null;
            if (_units.Count == 1 || !_units.TryGetValue(lun, out unit)) return false;
            var next = new SortedDictionary<int, ILogicalUnit>(_units);
            next.Remove(lun);
            Volatile.Write(ref _units, next);
            return true;
        }
    }

    /// <summary>Data-Out bytes the command transfers (0 for an unknown LUN: the command fails without data).</summary>
    public long DataOutLength(ulong lunField, ReadOnlySpan<byte> cdb) =>
        Find(LunAddress.Decode(lunField)) is { } unit ? unit.DataOutLength(cdb) : 0;

    public ValueTask<ScsiResult> ExecuteAsync(ulong lunField, ScsiRequest request, UnitAttentionState? attention, CancellationToken ct)
    {
        int lun = LunAddress.Decode(lunField);
        ReadOnlySpan<byte> cdb = request.Cdb.Span;
        byte opcode = cdb[0];
        if (opcode == ScsiOpcode.ReportLuns)
        {
            ScsiResult report = ReportLuns(cdb);
            if (report.Status == ScsiStatus.Good) attention?.Clear(AdditionalSense.ReportedLunsDataHasChanged);
            return ValueTask.FromResult(report);
        }

        if (Find(lun) is not { } unit) return ValueTask.FromResult(MissingUnit(cdb));

        if (attention is not null && opcode != ScsiOpcode.Inquiry && attention.TryTake(lun, out AdditionalSense pending))
        {
            return ValueTask.FromResult(opcode == ScsiOpcode.RequestSense
                ? ScsiResult.Good(SenseBuilder.Fixed(SenseKey.UnitAttention, pending), cdb[4])
                : ScsiResult.CheckCondition(SenseKey.UnitAttention, pending));
        }
        return unit.ExecuteAsync(request, ct);
    }

    private ScsiResult ReportLuns(ReadOnlySpan<byte> cdb)
    {
        uint allocation = CdbFields.U32(cdb, 6);
        if (cdb[2] > 2) return CheckConditionException.InvalidField(2).ToResult(); // SELECT REPORT: 0, 1 or 2
        if (allocation < 16) return CheckConditionException.InvalidField(6).ToResult();
        SortedDictionary<int, ILogicalUnit> units = Volatile.Read(ref _units);
        var data = new byte[8 + 8 * units.Count];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)(8 * units.Count));
        int offset = 8;
        foreach (int lun in units.Keys)
        {
            BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(offset), LunAddress.Encode(lun));
            offset += 8;
        }
        return ScsiResult.Good(data, allocation);
    }

    /// <summary>SPC-4: INQUIRY answers with peripheral qualifier 011b, REQUEST SENSE reports the condition, the rest fail.</summary>
    private ScsiResult MissingUnit(ReadOnlySpan<byte> cdb)
    {
        var notSupported = SenseBuilder.Fixed(SenseKey.IllegalRequest, AdditionalSense.LogicalUnitNotSupported);
        return cdb[0] switch
        {
            ScsiOpcode.Inquiry when (cdb[1] & 0x01) == 0 =>
                ScsiResult.Good(InquiryData.Standard(_missingIdentity, InquiryData.NoLogicalUnit), CdbFields.U16(cdb, 3)),
            ScsiOpcode.RequestSense => ScsiResult.Good(notSupported, cdb[4]),
            _ => ScsiResult.CheckCondition(notSupported),
        };
    }
}
