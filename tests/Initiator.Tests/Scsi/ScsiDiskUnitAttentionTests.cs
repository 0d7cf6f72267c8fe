using System.Buffers.Binary;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Tests.Scsi;

/// <summary>
/// A unit attention is still retried away, and its owner hears of it first: REPORTED LUNS DATA HAS CHANGED and
/// CAPACITY DATA HAS CHANGED are what start a rescan. A capacity read again is kept.
/// </summary>
public sealed class ScsiDiskUnitAttentionTests
{
    /// <summary>A disk of <see cref="Blocks"/> 512-byte blocks that answers the next commands with the queued sense first.</summary>
    private sealed class ScriptedDisk : IScsiSession
    {
        public Queue<(byte Asc, byte Ascq)> Attentions { get; } = new();
        public ulong Blocks { get; set; } = 16;
        public int Commands { get; private set; }
        public string? TargetName => "iqn.2026-12.test:scripted";

        public ValueTask<ScsiResult> ExecuteAsync(ScsiCommand command, CancellationToken ct = default)
        {
            Commands++;
            if (Attentions.TryDequeue(out var attention))
            {
                var sense = new byte[18];
                sense[0] = 0x70;
                sense[2] = SenseData.UnitAttention;
                sense[7] = 10;
                sense[12] = attention.Asc;
                sense[13] = attention.Ascq;
                return ValueTask.FromResult(new ScsiResult(ScsiResult.CheckCondition, sense, 0, false, false));
            }
            var data = command.ReadBuffer.Span;
            data.Clear();
            if (command.Cdb.Span[0] == 0x9E) // READ CAPACITY(16): last LBA, block size
            {
                BinaryPrimitives.WriteUInt64BigEndian(data, Blocks - 1);
                BinaryPrimitives.WriteUInt32BigEndian(data[8..], 512);
            }
            return ValueTask.FromResult(new ScsiResult(ScsiResult.Good, null, 0, false, false));
        }
    }

    [Fact]
    public async Task A_unit_attention_is_reported_then_the_command_is_retried()
    {
        var target = new ScriptedDisk();
        var disk = await ScsiDisk.OpenAsync(target, 1);
        var heard = new List<SenseData>();
        disk.UnitAttention = heard.Add;
        target.Attentions.Enqueue((0x3F, 0x0E));
        target.Attentions.Enqueue((0x2A, 0x09));
        int before = target.Commands;

        await disk.TestUnitReadyAsync();

        Assert.Equal(3, target.Commands - before);
        Assert.Equal(2, heard.Count);
        Assert.True(ScsiDisk.IsLunInventoryChange(heard[0]));
        Assert.True(ScsiDisk.IsCapacityChange(heard[1]));
        Assert.False(ScsiDisk.IsCapacityChange(heard[0]));
    }

    [Fact]
    public async Task A_capacity_read_again_is_kept_and_says_whether_it_changed()
    {
        var target = new ScriptedDisk();
        var disk = await ScsiDisk.OpenAsync(target, 1);

        Assert.False(await disk.RefreshCapacityAsync());
        target.Blocks = 64;
        Assert.True(await disk.RefreshCapacityAsync());
        Assert.Equal(64L * 512, disk.CapacityBytes);
    }
}
