using System.Threading.Channels;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// The one writer of a connection: PDUs from every task go through this queue and a single loop writes them.
/// StatSN, ExpCmdSN and MaxCmdSN are stamped at that moment, so StatSN order is wire order. The reader loop
/// never blocks on the socket (it only enqueues), which rules out the read/write deadlock where both peers
/// wait for the other to drain its buffer.
/// </summary>
public sealed class PduSendQueue
{
    private readonly record struct Item(Pdu[] Pdus, StatSnUse[] Uses, TaskCompletionSource? Written);

    private readonly Channel<Item> _channel = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly PduWriter _writer;
    private readonly CommandWindow _window;
    private uint _statSN;

    public PduSendQueue(PduWriter writer, CommandWindow window, uint nextStatSN)
    {
        _writer = writer;
        _window = window;
        _statSN = nextStatSN;
    }

    /// <summary>Queues one PDU without waiting (its data must stay valid until it is written: use owned memory).</summary>
    public void Post(Pdu pdu, StatSnUse use)
    {
        if (!_channel.Writer.TryWrite(new Item([pdu], [use], null))) pdu.Dispose();
    }

    /// <summary>Queues PDUs that go out back to back; completes once all are written (their buffers may then be reused).</summary>
    public Task SendAsync(Pdu[] pdus, StatSnUse[] uses)
    {
        var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_channel.Writer.TryWrite(new Item(pdus, uses, written))) written.TrySetCanceled();
        return written.Task;
    }

    public Task SendAsync(Pdu pdu, StatSnUse use) => SendAsync([pdu], [use]);

    /// <summary>Writes queued PDUs until <see cref="Complete"/> or cancellation; flushes whenever the queue runs dry.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            ChannelReader<Item> reader = _channel.Reader;
            while (await reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (reader.TryRead(out Item item))
                {
                    try
                    {
                        for (int i = 0; i < item.Pdus.Length; i++)
                        {
                            Stamp(item.Pdus[i], item.Uses[i]);
                            await _writer.WriteAsync(item.Pdus[i], ct).ConfigureAwait(false);
                        }
                        item.Written?.TrySetResult();
                    }
                    catch
                    {
                        item.Written?.TrySetCanceled();
                        throw;
                    }
                    finally
                    {
                        if (item.Written is null) foreach (var pdu in item.Pdus) pdu.Dispose();
                    }
                }
                await _writer.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _channel.Writer.TryComplete();
            while (_channel.Reader.TryRead(out Item left))
            {
                left.Written?.TrySetCanceled();
                if (left.Written is null) foreach (var pdu in left.Pdus) pdu.Dispose();
            }
        }
    }

    /// <summary>No more PDUs: the loop ends after writing what is queued.</summary>
    public void Complete() => _channel.Writer.TryComplete();

    private void Stamp(Pdu pdu, StatSnUse use)
    {
        switch (use)
        {
            case StatSnUse.Advance: pdu.StatSN = _statSN++; break;
            case StatSnUse.Peek: pdu.StatSN = _statSN; break;
        }
        (pdu.ExpCmdSN, pdu.MaxCmdSN) = _window.Snapshot();
    }
}
