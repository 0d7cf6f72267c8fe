using System.Diagnostics;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.Initiator.Session;

/// <summary>
/// Commands the target never answers. Like open-iscsi under the Linux SCSI error handler: a command without
/// status after <see cref="RecoveryOptions.CommandTimeout"/> is aborted (ABORT TASK, answer within
/// <see cref="RecoveryOptions.AbortTimeout"/>); if the abort goes unanswered, its logical unit is reset (within
/// <see cref="RecoveryOptions.LuResetTimeout"/>); if that goes unanswered too, the connection is dropped and a
/// <see cref="RecoveringSession"/> logs in again and re-issues the command. A command stuck before it could be
/// sent (a command window the target keeps closed, a connection that takes no data) cannot be aborted: the
/// connection is dropped at once. While commands wait for a closed window, NOP-Out pings ask the target for a
/// fresh MaxCmdSN (a NOP-In carries one).
/// </summary>
public sealed partial class IscsiSession
{
    private static readonly TimeSpan WindowProbeInterval = TimeSpan.FromSeconds(1);
    private int _windowProbePending;
    private long _lastWindowProbe;

    private async Task WatchdogLoopAsync()
    {
        var timeout = ErrorHandling.CommandTimeout;
        var period = TimeSpan.FromTicks(Math.Clamp(timeout.Ticks / 10, TimeSpan.FromMilliseconds(20).Ticks, TimeSpan.FromSeconds(1).Ticks));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_closing.Token).ConfigureAwait(false) && Failure is null)
            {
                bool waiting = false;
                foreach (var slot in _slots)
                {
                    if (!slot.Active || slot.IsCompleted) continue;
                    if (!slot.Sent) waiting = true;
                    if (slot.TryClaimTimedOut(timeout, out var claim)) _ = HandleTimeoutAsync(slot, claim);
                }
                if (waiting && WindowClosed) ProbeWindow();
            }
        }
        catch (OperationCanceledException) { }
    }

    private bool WindowClosed
    {
        get { lock (_sequenceLock) return SerialNumber.GreaterThan(_nextCmdSN, _maxCmdSN); }
    }

    /// <summary>One NOP-Out at a time, at most one a second: its NOP-In reopens the window if the target will.</summary>
    private void ProbeWindow()
    {
        long now = Stopwatch.GetTimestamp();
        if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastWindowProbe), now) < WindowProbeInterval) return;
        if (Interlocked.CompareExchange(ref _windowProbePending, 1, 0) != 0) return;
        Interlocked.Exchange(ref _lastWindowProbe, now);
        _ = Task.Run(async () =>
        {
            try { await PingAsync(_closing.Token, ErrorHandling.NopTimeout).ConfigureAwait(false); }
            catch (IOException) { /* a dead peer is the ping loop's and the command timeout's business */ }
            catch (OperationCanceledException) { }
            finally { Volatile.Write(ref _windowProbePending, 0); }
        });
    }

    private async Task HandleTimeoutAsync(PendingCommand slot, PendingCommand.TimedOut command)
    {
        string after = $"{command.Name} got no answer from target {TargetName} at {Portal} within {ErrorHandling.CommandTimeout.TotalSeconds:0.#} s";
        try
        {
            if (!command.Sent)
            {
                Fail(new SessionLostException(WindowClosed
                    ? $"target {TargetName} at {Portal} kept its command window closed: a {command.Name} waited {ErrorHandling.CommandTimeout.TotalSeconds:0.#} s to be sent"
                    : $"a {command.Name} could not be sent to target {TargetName} at {Portal} within {ErrorHandling.CommandTimeout.TotalSeconds:0.#} s (the connection takes no data)"));
                return;
            }
            byte? abort = await TaskManagementAsync(TaskManagement.AbortTask, command.Lun, command.Itt, command.CmdSN, ErrorHandling.AbortTimeout).ConfigureAwait(false);
            if (abort is TaskManagement.FunctionComplete or TaskManagement.TaskDoesNotExist)
            {
                // Nothing more comes for the task (RFC 7143 11.6.1); an answer that beat the abort has completed it already.
                slot.TryFail(command.Itt, new IOException($"{after}; the command was aborted"));
                return;
            }
            if (!slot.Active || slot.Itt != command.Itt || slot.IsCompleted || Failure is not null) return;
            long resetAt = Stopwatch.GetTimestamp();
            byte? reset = await TaskManagementAsync(TaskManagement.LogicalUnitReset, command.Lun, Pdu.ReservedTag, 0, ErrorHandling.LuResetTimeout).ConfigureAwait(false);
            if (reset == TaskManagement.FunctionComplete)
            {
                // The reset ended every task of the LU: none of them will be answered.
                var error = new IOException($"{after}; its logical unit was reset");
                foreach (var other in _slots) other.TryFailStartedBefore(resetAt, command.Lun, error);
                return;
            }
            Fail(new SessionLostException($"{after}, nor to ABORT TASK and LOGICAL UNIT RESET; dropping the connection"));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The session failed meanwhile: every command has been failed with it.
        }
    }

    /// <summary>Sends a task management request; its response code, or null when none came in time.</summary>
    private async Task<byte?> TaskManagementAsync(byte function, ulong lun, uint referencedItt, uint refCmdSN, TimeSpan timeout)
    {
        using var request = new Pdu(Opcode.TaskManagementRequest);
        request.TaskManagementFunction = function;
        request.Lun = lun;
        request.ReferencedTaskTag = referencedItt;
        request.RefCmdSN = refCmdSN;
        try
        {
            using var response = await RequestAsync(request, immediate: true, _closing.Token, timeout).ConfigureAwait(false);
            return response?.Response;
        }
        catch (IOException) when (Failure is null)
        {
            return null; // no answer in time, or a Reject
        }
    }
}
