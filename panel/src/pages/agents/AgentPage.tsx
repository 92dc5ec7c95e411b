import { TargetDetail } from './TargetDetail';

/** `#/agents/<id>` */
export function AgentPage({ id }: { id: string }) {
  return <TargetDetail kind="agent" id={id} />;
}
