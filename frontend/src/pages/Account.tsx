import { useId, useState, type FormEvent } from "react";
import { useAccount, useAchievements, useDeposit, useWalletHistory } from "../api/queries";
import { useWithdraw } from "../api/withdrawals";
import { useConfig, useServices, useSession } from "../app/context";
import { ApiKeysCard } from "../components/ApiKeys";
import { ChainDepositsCard } from "../components/ChainDeposits";
import { ElectricityPriceCard } from "../components/ElectricityPrice";
import { HotWalletCard } from "../components/HotWallet";
import { WithdrawalList } from "../components/Withdrawals";
import { WithdrawalQueueCard } from "../components/WithdrawalQueue";
import { SignInButton } from "../components/Auth";
import { useSignOut } from "../auth/useSignIn";
import {
  Badge,
  Button,
  Card,
  CopyBlock,
  EmptyState,
  ErrorState,
  Field,
  Input,
  LoadMore,
  LoadingRows,
  PageHeader,
  QueryView,
  Stat,
  Time,
} from "../components/ui";
import { cx } from "../lib/cx";
import { entryKindLabel, formatCredits, MICRO_PER_CREDIT, parseCredits } from "../lib/format";
import { requestedMessage, withdrawHint } from "../lib/withdrawals";

const FAUCET_MAX = 1000 * MICRO_PER_CREDIT;

function AmountForm({
  label,
  action,
  busy,
  max,
  onSubmit,
  testId,
  hint,
}: {
  label: string;
  action: string;
  busy: boolean;
  max?: number;
  onSubmit: (micro: number) => void;
  testId: string;
  hint?: string;
}) {
  const id = useId();
  const [text, setText] = useState("");
  const micro = parseCredits(text);
  const error =
    text.trim() === ""
      ? null
      : micro == null || micro <= 0
        ? "Enter a positive amount of credits (up to 6 decimals)."
        : max != null && micro > max
          ? `At most ${formatCredits(max)} credits.`
          : null;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (micro == null || micro <= 0 || error) return;
    onSubmit(micro);
    setText("");
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-2" data-testid={testId}>
      <Field label={label} htmlFor={id} error={error} hint={hint}>
        <div className="flex gap-2">
          <Input id={id} inputMode="decimal" placeholder="0.00" value={text} onChange={(e) => setText(e.target.value)} />
          <Button type="submit" variant="primary" busy={busy} disabled={micro == null || micro <= 0 || error != null}>
            {action}
          </Button>
        </div>
      </Field>
    </form>
  );
}

function Balance() {
  const account = useAccount();
  const deposit = useDeposit();
  const withdraw = useWithdraw();
  const config = useConfig();
  const { toasts } = useServices();
  const a = account.data;
  const local = config.stage === "local";
  return (
    <>
      <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
        <Stat label="Balance" value={`${formatCredits(a?.balance)} cr`} loading={account.isPending} testId="balance" />
        <Stat label="Held for withdrawal" value={`${formatCredits(a?.held)} cr`} loading={account.isPending} />
        <Stat label="Deposited" value={`${formatCredits(a?.deposited)} cr`} loading={account.isPending} />
        <Stat label="Withdrawn" value={`${formatCredits(a?.withdrawn)} cr`} loading={account.isPending} />
      </div>
      {account.isError && !a && (
        <div className="mt-3">
          <ErrorState error={account.error} onRetry={() => void account.refetch()} />
        </div>
      )}
      <div className="mt-6 grid gap-6 lg:grid-cols-2">
        <Card title="Deposit">
          {local ? (
            <AmountForm
              label="Amount (credits)"
              action="Deposit"
              busy={deposit.isPending}
              max={FAUCET_MAX}
              testId="deposit-form"
              hint="Local stage: a faucet credits you directly (at most 1,000 credits a time)."
              onSubmit={(micro) =>
                deposit.mutate(micro, {
                  onSuccess: (r) => toasts.success("Deposited", `${formatCredits(r.entry.amount)} credits added.`),
                })
              }
            />
          ) : (
            <p className="text-sm text-muted">
              {config.deposits
                ? "Send the stablecoin to your deposit address below; a payment made another way is credited by the platform's operators when it arrives. Quote your address:"
                : "Deposits on this deployment are credited by the platform's operators when your payment arrives. Quote your address:"}
              <span className="mt-2 block">
                <CopyBlock text={a?.address ?? ""} label="address" />
              </span>
            </p>
          )}
        </Card>
        <Card title="Withdraw">
          <AmountForm
            label="Amount (credits)"
            action="Request"
            busy={withdraw.isPending}
            max={a?.balance}
            testId="withdraw-form"
            hint={withdrawHint(config.withdrawalsOnChain, config.withdrawalAutoMax)}
            onSubmit={(micro) =>
              withdraw.mutate(micro, {
                onSuccess: (r) => toasts.success("Withdrawal requested", requestedMessage(r.withdrawal)),
              })
            }
          />
          <WithdrawalList />
        </Card>
      </div>
    </>
  );
}

function Ledger() {
  const history = useWalletHistory();
  const items = history.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Card title="Ledger" bodyClassName="p-0" testId="ledger">
      <QueryView
        query={history}
        padded
        rows={5}
        empty={
          items.length === 0 && (
            <EmptyState title="No money movements yet">Deposits, escrows, payouts, fees and refunds are each recorded here, once.</EmptyState>
          )
        }
      >
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <caption className="sr-only">Your ledger, newest first</caption>
            <thead className="text-left text-xs uppercase tracking-wider text-muted">
              <tr>
                <th scope="col" className="py-2 pl-4 pr-3 font-medium">When</th>
                <th scope="col" className="py-2 pr-3 font-medium">Kind</th>
                <th scope="col" className="py-2 pr-3 font-medium">Description</th>
                <th scope="col" className="py-2 pr-4 text-right font-medium">Balance change</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.entry_id} className="border-t border-border" data-testid="ledger-row">
                  <td className="py-2 pl-4 pr-3 text-xs text-muted">
                    <Time ts={e.created_at} />
                  </td>
                  <td className="py-2 pr-3">
                    <Badge tone={e.direction === "in" ? "ok" : e.direction === "out" ? "warn" : "neutral"}>{entryKindLabel(e.kind)}</Badge>
                  </td>
                  <td className="py-2 pr-3">{e.description}</td>
                  <td
                    className={cx(
                      "tabular py-2 pr-4 text-right",
                      e.signed_amount > 0 && "text-ok",
                      e.signed_amount < 0 && "text-warn",
                      e.signed_amount === 0 && "text-muted",
                    )}
                  >
                    {e.signed_amount === 0 ? `(${formatCredits(e.amount)})` : formatCredits(e.signed_amount, { sign: true })} cr
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </QueryView>
      <div className="pb-3">
        <LoadMore hasNext={history.hasNextPage} loading={history.isFetchingNextPage} onClick={() => void history.fetchNextPage()} />
      </div>
    </Card>
  );
}

function Achievements() {
  const achievements = useAchievements();
  if (achievements.isPending) return <LoadingRows rows={2} />;
  if (achievements.isError) return <ErrorState error={achievements.error} onRetry={() => void achievements.refetch()} />;
  if (achievements.data.length === 0) return null;
  return (
    <Card title="Achievements">
      <ul className="grid gap-3 sm:grid-cols-2 xl:grid-cols-3">
        {achievements.data.map((a) => (
          <li
            key={a.id}
            className={cx("rounded-lg border p-3", a.earned ? "border-accent/40 bg-accent/5" : "border-border opacity-60")}
          >
            <div className="flex items-center justify-between gap-2">
              <span className="font-medium">{a.title}</span>
              {a.earned ? <Badge tone="accent">Earned</Badge> : <Badge>Locked</Badge>}
            </div>
            <p className="mt-1 text-xs text-muted">{a.description}</p>
            {a.earned_at && (
              <p className="mt-1 text-xs text-muted">
                <Time ts={a.earned_at} />
              </p>
            )}
          </li>
        ))}
      </ul>
    </Card>
  );
}

export default function Account() {
  const session = useSession();
  const config = useConfig();
  const signOut = useSignOut();
  const signOutEverywhere = useSignOut({ everywhere: true });
  if (!session) {
    return (
      <div data-testid="page-account">
        <PageHeader title="Account" />
        <Card className="mx-auto max-w-lg">
          <div className="flex flex-col items-center gap-3 py-6 text-center" data-testid="sign-in-required">
            <h2 className="text-lg font-semibold">Sign in with your wallet</h2>
            <p className="text-sm text-muted">
              Your wallet (MetaMask or any EIP-1193 wallet) signs a one-time Sign-In with Ethereum message (EIP-4361). It costs nothing and moves
              no funds; the session lasts an hour.
            </p>
            <SignInButton />
          </div>
        </Card>
      </div>
    );
  }
  return (
    <div data-testid="page-account">
      <PageHeader
        title="Account"
        subtitle={
          <>
            <span className="font-mono" data-testid="account-address">
              {session.address}
            </span>
            {session.isAdmin && (
              <span className="ml-2">
                <Badge tone="warn">admin</Badge>
              </span>
            )}
            <span className="ml-2">
              · session ends <Time ts={session.expiresAt} />
            </span>
          </>
        }
        actions={
          <div className="flex flex-wrap gap-2">
            <Button onClick={signOut} data-testid="sign-out">
              Sign out
            </Button>
            <Button variant="ghost" onClick={signOutEverywhere} title="Every session of this address, on every device" data-testid="sign-out-everywhere">
              Sign out everywhere
            </Button>
          </div>
        }
      />
      <Balance />
      {config.deposits && (
        <div className="mt-6">
          <ChainDepositsCard />
        </div>
      )}
      {session.isAdmin && (
        <div className="mt-6">
          <WithdrawalQueueCard />
        </div>
      )}
      {session.isAdmin && config.withdrawalsOnChain && (
        <div className="mt-6">
          <HotWalletCard />
        </div>
      )}
      <div className="mt-6">
        <ElectricityPriceCard />
      </div>
      <div className="mt-6">
        <Ledger />
      </div>
      <div className="mt-6">
        <Achievements />
      </div>
      <div className="mt-6">
        <ApiKeysCard />
      </div>
    </div>
  );
}
