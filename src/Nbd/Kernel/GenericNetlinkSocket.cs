using System.Buffers.Binary;
using System.ComponentModel;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace IscsiUp.Nbd.Kernel;

/// <summary>
/// A NETLINK_GENERIC socket for request/acknowledge exchanges with the kernel (.NET's Socket has no netlink
/// address family, so the socket is opened and used through libc).
/// </summary>
public sealed unsafe class GenericNetlinkSocket : IDisposable
{
    private const int NetlinkGeneric = 16;
    private const ushort NlmsgError = 2, NlmsgDone = 3;
    private const ushort GenlIdCtrl = 0x10;
    private const byte CtrlCmdGetFamily = 3;
    private const ushort CtrlAttrFamilyId = 1, CtrlAttrFamilyName = 2;

    private readonly int _fd;
    private uint _sequence = (uint)Environment.TickCount;

    public GenericNetlinkSocket()
    {
        _fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NetlinkGeneric);
        if (_fd < 0) throw new IOException($"cannot open a generic netlink socket: {Errno()}");
    }

    public uint NextSequence() => ++_sequence;

    /// <summary>The numeric id of a generic netlink family ("nbd"), or null when the kernel does not know it.</summary>
    public ushort? ResolveFamily(string name)
    {
        var request = new NetlinkMessage(GenlIdCtrl, CtrlCmdGetFamily, 1, NextSequence()).String(CtrlAttrFamilyName, name);
        try
        {
            var replies = Exchange(request.ToArray());
            foreach (var reply in replies)
                if (new NetlinkAttributes(reply).U16(CtrlAttrFamilyId) is { } id) return id;
            return null;
        }
        catch (NetlinkException e) when (e.Errno == ENOENT)
        {
            return null;
        }
    }

    /// <summary>Sends one request and returns the attribute payloads of its replies; throws on a negative acknowledgement.</summary>
    public List<byte[]> Exchange(byte[] request)
    {
        uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(request.AsSpan(8));
        fixed (byte* p = request)
        {
            if (send(_fd, p, request.Length, 0) < 0) throw new IOException($"netlink send failed: {Errno()}");
        }
        var replies = new List<byte[]>();
        var buffer = new byte[65536];
        while (true)
        {
            long n;
            fixed (byte* p = buffer) n = recv(_fd, p, buffer.Length, 0);
            if (n < 0)
            {
                if (errno == EINTR) continue;
                throw new IOException($"netlink receive failed: {Errno()}");
            }
            var data = buffer.AsSpan(0, (int)n);
            while (data.Length >= 16)
            {
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]);
                uint seq = BinaryPrimitives.ReadUInt32LittleEndian(data[8..]);
                if (length < 16 || length > data.Length) break;
                var message = data[..length];
                data = data[Math.Min(data.Length, (length + 3) & ~3)..];
                if (seq != sequence) continue; // a multicast or stale message
                if (type == NlmsgError)
                {
                    int error = BinaryPrimitives.ReadInt32LittleEndian(message[16..]);
                    if (error == 0) return replies; // the acknowledgement
                    throw new NetlinkException(-error);
                }
                if (type == NlmsgDone) return replies;
                if (message.Length >= 20) replies.Add(message[20..].ToArray());
            }
        }
    }

    private static string Errno() => new Win32Exception(errno).Message;

    public void Dispose() => close(_fd);
}

/// <summary>The kernel refused a netlink request with an errno.</summary>
public sealed class NetlinkException(int errno) : IOException(new Win32Exception(errno).Message)
{
    public int Errno { get; } = errno;
}
