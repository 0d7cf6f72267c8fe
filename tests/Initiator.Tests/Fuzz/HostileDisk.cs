using System.Buffers.Binary;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Tests.Fuzz;

/// <summary>
/// A <see cref="HostileTarget.Behaviour"/> that is a small, well-behaved disk (enough SCSI for
/// <see cref="ScsiDisk.OpenAsync"/> and block I/O), with a hook that sees each READ(16) and WRITE(16) first and
/// may answer it however a test wants. Blocks are 512 bytes.
/// </summary>
internal sealed class HostileDisk(int blocks)
{
    public const int BlockSize = 512;

    public byte[] Bytes { get; } = new byte[blocks * BlockSize];

    /// <summary>Sees a READ or WRITE (with its first block and block count) before the disk; returns true when it answered (or chose silence).</summary>
    public Func<HostilePeer, ulong, uint, Task<bool>>? Intercept { get; set; }

    /// <summary>READ(16)s and WRITE(16)s received.</summary>
    public int BlockCommands => Volatile.Read(ref _blockCommands);
    private int _blockCommands;

    public async Task ServeAsync(HostilePeer peer)
    {
        byte[] cdb = peer.Command.Cdb.ToArray();
        switch (cdb[0])
        {
            case ScsiOpcode.Read16 or ScsiOpcode.Write16:
                ulong lba = BinaryPrimitives.ReadUInt64BigEndian(cdb.AsSpan(2));
                uint count = BinaryPrimitives.ReadUInt32BigEndian(cdb.AsSpan(10));
                Interlocked.Increment(ref _blockCommands);
                if (Intercept is { } intercept && await intercept(peer, lba, count)) return;
                if (cdb[0] == ScsiOpcode.Read16)
                {
                    await peer.SendAsync(peer.DataIn(0, Bytes.AsSpan((int)lba * BlockSize, (int)count * BlockSize).ToArray(), status: ScsiResult.Good));
                    return;
                }
                peer.Command.Data.Span.CopyTo(Bytes.AsSpan((int)lba * BlockSize));
                await peer.SendAsync(peer.Response(Opcode.ScsiResponse));
                return;
            case ScsiOpcode.TestUnitReady or ScsiOpcode.SynchronizeCache16:
                await peer.SendAsync(peer.Response(Opcode.ScsiResponse));
                return;
            case ScsiOpcode.Inquiry when (cdb[1] & 1) != 0:
                await peer.SendGoodDataAsync([0, cdb[2], 0, 0]); // VPD pages: none listed
                return;
            case ScsiOpcode.Inquiry:
                var inquiry = new byte[36];
                inquiry[2] = 5;
                inquiry[3] = 2;
                inquiry[4] = 31;
                "HOSTILE HOSTILE DISK    0001"u8.CopyTo(inquiry.AsSpan(8));
                await peer.SendGoodDataAsync(inquiry);
                return;
            case ScsiOpcode.ServiceActionIn16:
                var capacity = new byte[32];
                BinaryPrimitives.WriteUInt64BigEndian(capacity, (ulong)blocks - 1);
                BinaryPrimitives.WriteUInt32BigEndian(capacity.AsSpan(8), BlockSize);
                await peer.SendGoodDataAsync(capacity);
                return;
            case ScsiOpcode.ReportLuns:
                await peer.SendGoodDataAsync([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // LUN 0 only
                return;
            case ScsiOpcode.ModeSense6:
                await peer.SendGoodDataAsync([3, 0, 0, 0]);
                return;
            default:
                var response = peer.Response(Opcode.ScsiResponse);
                response.Status = ScsiResult.CheckCondition;
                byte[] sense = new byte[2 + 18];
                sense[1] = 18;
                sense[2] = 0x70;
                sense[2 + 2] = SenseData.IllegalRequest;
                sense[2 + 7] = 10;
                sense[2 + 12] = 0x20; // INVALID COMMAND OPERATION CODE
                response.SetData(sense);
                await peer.SendAsync(response);
                return;
        }
    }
}
