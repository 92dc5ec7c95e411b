import { TargetDetail } from './TargetDetail';

/** `#/scenes/<id>` */
export function ScenePage({ id }: { id: string }) {
  return <TargetDetail kind="scene" id={id} />;
}
